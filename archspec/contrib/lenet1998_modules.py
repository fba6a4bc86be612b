"""Torch modules for the 1998 LeNet-5 (LeCun, Bottou, Bengio, Haffner, Section II.B).

This file depends on torch alone: the emitted source of a spec that uses these layers
contains this file's class definitions verbatim, so generated code needs no archspec.
"""

import torch
from torch import nn


class ScaledTanh(nn.Module):
    """The paper's squashing function f(a) = A tanh(S a), with A = 1.7159 and S = 2/3."""

    def __init__(self, amplitude: float = 1.7159, slope: float = 2.0 / 3.0) -> None:
        super().__init__()
        self.amplitude = amplitude
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.amplitude * torch.tanh(self.slope * x)

    def extra_repr(self) -> str:
        return f"amplitude={self.amplitude}, slope={self.slope}"


class TrainableSubsampling(nn.Module):
    """S2/S4: the sum of each k x k neighbourhood times one trainable coefficient per map,
    plus one trainable bias per map (the squashing function is a separate layer)."""

    def __init__(self, channels: int, kernel_size: int = 2) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Fan-in of a unit is k*k inputs: uniform in +-2.4/fan_in, as in the paper's appendix.
        bound = 2.4 / (self.kernel_size * self.kernel_size)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        summed = nn.functional.avg_pool2d(x, k) * (k * k)
        return summed * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, kernel_size={self.kernel_size}"


class ConnectionTableConv2d(nn.Module):
    """C3: a convolution in which output map j sees only the input maps listed in table[j].

    Only the connected kernels are parameters (the paper's 1,516 for C3), scattered into a
    dense kernel in forward; unconnected kernels stay exactly zero.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, table: list[list[int]]
    ) -> None:
        super().__init__()
        if len(table) != out_channels:
            raise ValueError("the connection table needs one row per output map")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        pairs = [(j, i) for j, row in enumerate(table) for i in row]
        # The table is the layer's wiring: saved with its state (so a model built on the meta
        # device and loaded from a checkpoint gets it back), but not trained.
        self.register_buffer("out_index", torch.tensor([p[0] for p in pairs]))
        self.register_buffer("in_index", torch.tensor([p[1] for p in pairs]))
        self.weight = nn.Parameter(torch.empty(len(pairs), kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels))
        # uniform init in +-2.4/fan_in per kernel, fan_in counted in Python (no meta kernels)
        self._bounds = [2.4 / (len(table[j]) * kernel_size**2) for j, _ in pairs]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = torch.tensor(self._bounds, dtype=self.weight.dtype, device=self.weight.device)
        bound = bound.view(-1, 1, 1)
        with torch.no_grad():
            self.weight.copy_((torch.rand_like(self.weight) * 2 - 1) * bound)
            nn.init.uniform_(self.bias, -2.4 / self.kernel_size**2, 2.4 / self.kernel_size**2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        dense = self.weight.new_zeros(self.out_channels, self.in_channels, k, k)
        dense = dense.index_put((self.out_index, self.in_index), self.weight)
        return nn.functional.conv2d(x, dense, self.bias)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"connections={self.weight.shape[0]}"
        )


def rbf_prototypes(units: int, features: int) -> torch.Tensor:
    """The fixed +1/-1 prototype of each output unit.

    The paper draws 7x12 bitmaps of the characters; we use a documented stand-in: rows of a
    Sylvester Hadamard matrix of order 128 (skipping the all-ones row 0), cut to `features`
    columns. Distinct rows are far apart in Hamming distance, which is what the RBF output
    needs.
    """
    order = 1
    while order < max(features, units + 1):
        order *= 2
    h = torch.ones(1, 1)
    while h.shape[0] < order:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h[1 : units + 1, :features].clone()


class EuclideanRBF(nn.Module):
    """Output layer of Euclidean RBF units: y_i = sum_j (x_j - w_ij)^2, w fixed (not trained).

    A smaller y_i means a better match, so `-y` serves as logits for cross-entropy.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.register_buffer("prototypes", rbf_prototypes(out_features, in_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        diff = x.unsqueeze(-2) - self.prototypes
        return diff.pow(2).sum(-1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


__all__ = [
    "ConnectionTableConv2d",
    "EuclideanRBF",
    "ScaledTanh",
    "TrainableSubsampling",
    "rbf_prototypes",
]
