"""Collect benchmark figures and print them as one table, each beside its reference."""

from __future__ import annotations

import attrs


@attrs.frozen
class Figure:
    """One measured figure, optionally beside a reference measured in the same run."""

    bench: str
    name: str
    value: float
    unit: str
    reference: float | None = None
    reference_name: str = ""


@attrs.define
class Report:
    """The figures of every benchmark that ran."""

    quick: bool = False
    figures: list[Figure] = attrs.Factory(list)

    def add(self, figure: Figure) -> None:
        """Record a figure and print it at once, so long runs show progress."""
        self.figures.append(figure)
        print(f"  {figure.name}: {figure.value:,.0f} {figure.unit}", flush=True)

    def print_table(self) -> None:
        """Print every figure with its reference and the ratio between them."""
        header = f"{'bench':<7} {'figure':<44} {'value':>14} {'reference':>28} {'ratio':>7}"
        print("\n" + header + "\n" + "-" * len(header))
        for f in self.figures:
            ref = "" if f.reference is None else f"{f.reference:,.0f} {f.reference_name}"
            ratio = "" if not f.reference else f"{f.value / f.reference:.1f}x"
            value = f"{f.value:,.0f} {f.unit}"
            print(f"{f.bench:<7} {f.name:<44} {value:>14} {ref:>28} {ratio:>7}")
