"""Scoring rules, one module each: ``score(params, ...) -> scores`` (higher = keep)."""

from lottery.scores.magnitude import magnitude

__all__ = ["magnitude"]
