"""Prices per model, read from data/prices.toml (never hard-coded), and cost arithmetic."""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

PRICES_FILE = Path(__file__).resolve().parent.parent.parent / "data" / "prices.toml"
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Price:
    input: float  # USD per 1M uncached prompt tokens
    cached_input: float  # USD per 1M cached prompt tokens
    output: float  # USD per 1M completion tokens


@dataclass(frozen=True)
class Cost:
    prompt: float  # uncached + cached input
    completion: float

    @property
    def total(self) -> float:
        return self.prompt + self.completion


class PriceTable:
    def __init__(self, models: dict[str, Price], batch_discount: float = 0.5):
        self.models = models
        self.batch_discount = batch_discount

    @classmethod
    def load(cls, path: str | Path = PRICES_FILE) -> "PriceTable":
        path = Path(path)
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"price file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"price file {path} is not valid TOML: {exc}") from None
        models = {}
        for name, row in (doc.get("models") or {}).items():
            try:
                models[name] = Price(float(row["input"]), float(row["cached_input"]), float(row["output"]))
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"price file {path}: model {name!r} needs numbers input, cached_input "
                                 "and output (USD per 1M tokens)") from None
        return cls(models, float(doc.get("batch_discount", 0.5)))

    def with_price(self, model: str, price: Price) -> "PriceTable":
        """A copy in which `model` costs `price` (a team's own price, e.g. 0 for a local model)."""
        return PriceTable({**self.models, model: price}, self.batch_discount)

    def price(self, model: str) -> Price | None:
        """The price of a model, or None when unknown. Tries the exact name, then without a
        provider prefix ("openai/gpt-4o") and without a snapshot date ("gpt-4o-2024-08-06")."""
        candidates = [model, model.rsplit("/", 1)[-1]]
        candidates += [_DATED.sub("", c) for c in candidates]
        for c in candidates:
            if c in self.models:
                return self.models[c]
        return None

    def cost(self, model: str, prompt_tokens: int, cached_tokens: int, completion_tokens: int,
             *, batch: bool = False) -> Cost | None:
        """What a call costs; None when the model's price is unknown (never an exception)."""
        p = self.price(model)
        if p is None:
            return None
        cached = max(0, min(cached_tokens or 0, prompt_tokens))
        factor = self.batch_discount if batch else 1.0
        prompt = ((prompt_tokens - cached) * p.input + cached * p.cached_input) / 1e6 * factor
        return Cost(prompt=prompt, completion=completion_tokens * p.output / 1e6 * factor)
