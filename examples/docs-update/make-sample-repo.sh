#!/usr/bin/env bash
# Makes the sample Python project the docs-update workflow runs on: a git
# repository with a few commits, each tagged for the testing plan. Nothing
# binary is committed to weft; this script makes it afresh.
#
#   examples/docs-update/make-sample-repo.sh DIR
#
# Commits (oldest first):
#   initial     inventory/stock.py and inventory/pricing.py, with docs/ for both
#   new-module  adds inventory/report.py, which has no docs yet
#   happy-path  changes inventory/stock.py (documented, docstrings everywhere)
#   broken      adds inventory/legacy.py (a syntax error), changes pricing.py and report.py
# DIR/out/ is made for the generated docs. Safe to run again: DIR is rebuilt.
set -euo pipefail
dir="${1:?usage: make-sample-repo.sh DIR}"
rm -rf "$dir"
mkdir -p "$dir/repo" "$dir/out"
cd "$dir/repo"
export GIT_AUTHOR_NAME="Sample Author" GIT_AUTHOR_EMAIL="author@example.com"
export GIT_COMMITTER_NAME="Sample Author" GIT_COMMITTER_EMAIL="author@example.com"
export GIT_AUTHOR_DATE="2026-01-01T12:00:00Z" GIT_COMMITTER_DATE="2026-01-01T12:00:00Z"
git init -q -b main .
git config commit.gpgsign false

mkdir -p inventory docs
cat > inventory/__init__.py <<'PY'
"""A tiny inventory package, used to demonstrate weft's docs-update workflow."""
PY
cat > inventory/stock.py <<'PY'
"""Stock levels of the items in a warehouse."""


class Stock:
    """Counts of items, by SKU."""

    def __init__(self):
        self.counts = {}

    def add(self, sku: str, quantity: int = 1) -> int:
        """Adds `quantity` of `sku` and returns the new count."""
        self.counts[sku] = self.counts.get(sku, 0) + quantity
        return self.counts[sku]


def total(stock: Stock) -> int:
    """The number of items in `stock`, all SKUs together."""
    return sum(stock.counts.values())
PY
cat > inventory/pricing.py <<'PY'
"""Prices, with and without tax."""

RATE = 0.2


def with_tax(price: float, rate: float = RATE) -> float:
    """The price including tax at `rate`."""
    return round(price * (1 + rate), 2)
PY
cat > docs/stock.md <<'MD'
# inventory.stock

## Overview
Keeps stock levels per SKU.

## API
### `Stock`
Counts of items, by SKU.
MD
cat > docs/pricing.md <<'MD'
# inventory.pricing

## Overview
Prices, with and without tax.

## API
### `with_tax(price, rate)`
The price including tax.
MD
git add -A && git commit -q -m "Initial inventory package with docs" && git tag initial

cat > inventory/report.py <<'PY'
"""Reports on stock."""

from inventory.stock import Stock, total


def summary(stock: Stock) -> str:
    """A one-line summary of `stock`."""
    return f"{len(stock.counts)} SKUs, {total(stock)} items"


def low(stock: Stock, threshold=3):
    return [sku for sku, n in stock.counts.items() if n < threshold]
PY
git add -A && GIT_AUTHOR_DATE="2026-01-02T12:00:00Z" GIT_COMMITTER_DATE="2026-01-02T12:00:00Z" git commit -q -m "Add stock reports" && git tag new-module

cat >> inventory/stock.py <<'PY'


def remove(stock: Stock, sku: str, quantity: int = 1) -> int:
    """Removes `quantity` of `sku`, never going below zero; returns the new count."""
    stock.counts[sku] = max(0, stock.counts.get(sku, 0) - quantity)
    return stock.counts[sku]
PY
git add -A && GIT_AUTHOR_DATE="2026-01-03T12:00:00Z" GIT_COMMITTER_DATE="2026-01-03T12:00:00Z" git commit -q -m "Stock: remove items" && git tag happy-path

cat > inventory/legacy.py <<'PY'
"""The old importer, half ported."""

def import_csv(path)
    return open(path).read()
PY
cat >> inventory/pricing.py <<'PY'


def discount(price: float, percent: float) -> float:
    """The price after a discount of `percent` per cent."""
    return round(price * (1 - percent / 100), 2)
PY
cat >> inventory/report.py <<'PY'


def csv(stock: Stock) -> str:
    """The stock as CSV lines `sku,count`."""
    return "\n".join(f"{sku},{n}" for sku, n in sorted(stock.counts.items()))
PY
git add -A && GIT_AUTHOR_DATE="2026-01-04T12:00:00Z" GIT_COMMITTER_DATE="2026-01-04T12:00:00Z" git commit -q -m "Discounts, CSV reports, and the legacy importer" && git tag broken
