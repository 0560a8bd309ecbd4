"""L2-SP as gradient hooks: ``grad += α (w − w_src)`` on loaded tensors, ``grad += β w`` on new ones.

That is exactly the gradient of ``α/2·‖w − w_src‖² + β/2·‖w_new‖²`` added to whatever loss the algorithm
back-propagates, without touching the algorithm's code — so it works for every SB3 algorithm.  Note: with
Adam the penalty's gradient is rescaled like any other, as in Li et al. (2018) who used SGD/Adam alike.

>>> reg = L2SP.attach(model.policy, anchors=set(report.loaded), alpha=0.01)   # doctest: +SKIP
>>> reg.penalty()                                                             # doctest: +SKIP
0.0
>>> reg.detach()                                                              # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import nn

from simtransfer.transfer.layers import is_target_param


def _pull(param: nn.Parameter, anchor: torch.Tensor, alpha: float, grad: torch.Tensor) -> torch.Tensor:
    return grad + alpha * (param.detach() - anchor)


def _decay(param: nn.Parameter, beta: float, grad: torch.Tensor) -> torch.Tensor:
    return grad + beta * param.detach()


@dataclass
class L2SP:
    """Hooks implementing the L2-SP penalty on one module; ``penalty()`` gives its current value."""

    alpha: float
    beta: float
    anchored: dict[str, tuple[nn.Parameter, torch.Tensor]] = field(default_factory=dict)
    new: dict[str, nn.Parameter] = field(default_factory=dict)
    handles: list[Any] = field(default_factory=list)

    @classmethod
    def attach(cls, module: nn.Module, anchors: Iterable[str], alpha: float, beta: float = 0.0) -> L2SP:
        """Anchor the named parameters at their current values (call right after loading the source).

        Trainable parameters not in ``anchors`` get the β term; target networks and frozen tensors get nothing.
        """
        anchor_names = set(anchors)
        reg = cls(alpha=float(alpha), beta=float(beta))
        for name, p in module.named_parameters():
            if not p.requires_grad or is_target_param(name):
                continue
            if name in anchor_names:
                anchor = p.detach().clone()
                reg.anchored[name] = (p, anchor)
                if reg.alpha > 0:
                    reg.handles.append(p.register_hook(partial(_pull, p, anchor, reg.alpha)))
            else:
                reg.new[name] = p
                if reg.beta > 0:
                    reg.handles.append(p.register_hook(partial(_decay, p, reg.beta)))
        return reg

    def penalty(self) -> float:
        """α/2·Σ‖w − w_src‖² + β/2·Σ‖w_new‖² at the current weights."""
        with torch.no_grad():
            pull = sum(float(((p - a) ** 2).sum()) for p, a in self.anchored.values())
            decay = sum(float((p ** 2).sum()) for p in self.new.values())
        return 0.5 * self.alpha * pull + 0.5 * self.beta * decay

    def distance(self) -> float:
        """‖w − w_src‖ over the anchored tensors (how far fine-tuning moved)."""
        with torch.no_grad():
            return float(sum(float(((p - a) ** 2).sum()) for p, a in self.anchored.values()) ** 0.5)

    def detach(self) -> None:
        """Remove every hook."""
        for h in self.handles:
            h.remove()
        self.handles.clear()
