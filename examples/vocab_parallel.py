"""Train a small model whose output layer is split by vocabulary over CPU processes.

    torchrun --nproc-per-node 2 examples/vocab_parallel.py [--linear]

Every rank holds the same body (an embedding and a hidden layer, replicated) and a
contiguous slice of the output layer's rows — uneven on purpose: rank 0 gets a third of
the vocabulary, rank 1 two thirds. No rank ever holds the ``[N, V]`` logits.

By default the loss is ``crossent.torch.vocab_parallel_cross_entropy`` on the local logits
``h @ W_r.T``. The hidden states enter the head through ``CopyToShards``, an identity
whose backward all-reduces their gradient (Megatron-LM's ``f`` operator): each shard's
loss gradient reaches the hidden states only through that shard, so the replicated body
needs the sum. With ``--linear`` the loss is
``crossent.torch.vocab_parallel_linear_cross_entropy(h, W_r, targets)``, which never
forms even the local logits in full and does that all-reduce itself.

Each rank also trains the same model unsharded with ``crossent.softmax_cross_entropy``
and rank 0 prints both losses at every step.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

import crossent
from crossent.torch import vocab_parallel_cross_entropy, vocab_parallel_linear_cross_entropy

VOCAB = 1000
HIDDEN = 64
BATCH = 256
STEPS = 10
LEARNING_RATE = 5.0
SEED = 0


class CopyToShards(torch.autograd.Function):
    """Identity forward; all-reduce (sum) of the gradient in backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> torch.Tensor:
        grad = grad_output.clone()
        dist.all_reduce(grad)
        return grad


def shard_bounds(vocab: int, world: int) -> list[int]:
    """Uneven contiguous shards: rank ``r`` gets a share proportional to ``r + 1``."""
    total = world * (world + 1) // 2
    return [vocab * (r * (r + 1) // 2) // total for r in range(world + 1)]


class Body(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, HIDDEN)
        self.hidden = nn.Linear(HIDDEN, HIDDEN)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.hidden(self.embed(tokens)))


def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens and their next token under a fixed permutation (a learnable map), plus padding."""
    g = torch.Generator().manual_seed(SEED + 1 + step)
    tokens = torch.randint(0, VOCAB, (BATCH,), generator=g)
    successor = torch.randperm(VOCAB, generator=torch.Generator().manual_seed(SEED))
    targets = successor[tokens]
    targets[torch.rand(BATCH, generator=g) < 0.1] = -100  # padding, ignored
    return tokens, targets


def sharded_loss(
    hidden: torch.Tensor, local_head: torch.Tensor, targets: torch.Tensor, linear: bool
) -> torch.Tensor:
    """The vocabulary-parallel loss of this rank's head shard."""
    if linear:
        return vocab_parallel_linear_cross_entropy(hidden, local_head, targets, label_smoothing=0.1)
    h = CopyToShards.apply(hidden)
    return vocab_parallel_cross_entropy(h @ local_head.T, targets, label_smoothing=0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--linear",
        action="store_true",
        help="use vocab_parallel_linear_cross_entropy (no logits) instead of the logits loss",
    )
    args = parser.parse_args()
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(SEED)
    body = Body()
    head = nn.Linear(HIDDEN, VOCAB, bias=False)
    # The unsharded reference starts from the very same parameters.
    ref_body, ref_head = Body(), nn.Linear(HIDDEN, VOCAB, bias=False)
    ref_body.load_state_dict(body.state_dict())
    ref_head.load_state_dict(head.state_dict())

    lo, hi = shard_bounds(VOCAB, world)[rank : rank + 2]
    local_head = nn.Parameter(head.weight.detach()[lo:hi].clone())
    params = [*body.parameters(), local_head]
    ref_params = [*ref_body.parameters(), *ref_head.parameters()]
    opt = torch.optim.SGD(params, lr=LEARNING_RATE)
    ref_opt = torch.optim.SGD(ref_params, lr=LEARNING_RATE)
    if rank == 0:
        loss_name = "vocab_parallel_" + ("linear_" if args.linear else "") + "cross_entropy"
        print(
            f"{world} ranks, vocabulary {VOCAB} split as {shard_bounds(VOCAB, world)}, {loss_name}"
        )
        print(f"{'step':>4}  {'vocab-parallel':>16}  {'one process':>16}  {'|difference|':>12}")

    for step in range(STEPS):
        tokens, targets = batch(step)
        loss = sharded_loss(body(tokens), local_head, targets, args.linear)
        opt.zero_grad()
        loss.backward()
        opt.step()

        ref_loss = crossent.softmax_cross_entropy(
            ref_head(ref_body(tokens)), targets, label_smoothing=0.1
        )
        ref_opt.zero_grad()
        ref_loss.backward()
        ref_opt.step()
        if rank == 0:
            diff = abs(loss.item() - ref_loss.item())
            print(f"{step:>4}  {loss.item():>16.8f}  {ref_loss.item():>16.8f}  {diff:>12.2e}")

    # Each rank's trained shard is its slice of the reference's trained output layer.
    drift = (local_head.detach() - ref_head.weight.detach()[lo:hi]).abs().max().reshape(1)
    dist.all_reduce(drift, op=dist.ReduceOp.MAX)
    if rank == 0:
        print(f"max |trained head - one-process head| = {float(drift):.2e}")
    # Leave together: a rank that tears gloo down while its peer is still sending aborts
    # ("terminate called without an active exception").
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
