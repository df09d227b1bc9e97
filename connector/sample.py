"""The sample database: deterministic market data so a new user has something to query.

Fifty tickers with company facts, ten years of daily prices on weekdays (about 130,000
rows), quarterly dividends and quarterly earnings, generated from a fixed seed. It is
written to a temporary file and renamed into place, so a crash never leaves half a
database behind.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

SAMPLE_FILE = "sample.db"
SEED = 20240501
START = dt.date(2015, 1, 1)
YEARS = 10

SECTORS = (
    "Technology", "Financials", "Health Care", "Energy", "Industrials",
    "Consumer Staples", "Consumer Discretionary", "Utilities", "Materials", "Real Estate",
)  # fmt: skip
SYLLABLES = ("ar", "bel", "cor", "dyn", "ex", "fin", "gal", "hel", "ion", "jet", "kor", "lum")

SCHEMA = """
CREATE TABLE tickers (
    symbol TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    sector TEXT NOT NULL,
    exchange TEXT NOT NULL,
    listed_on DATE NOT NULL,
    shares_outstanding INTEGER NOT NULL
);
CREATE TABLE daily_prices (
    symbol TEXT NOT NULL REFERENCES tickers(symbol),
    date DATE NOT NULL,
    open REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    close REAL NOT NULL,
    volume INTEGER NOT NULL,
    PRIMARY KEY (symbol, date)
);
CREATE TABLE dividends (
    symbol TEXT NOT NULL REFERENCES tickers(symbol),
    ex_date DATE NOT NULL,
    amount DECIMAL(10, 4) NOT NULL,
    PRIMARY KEY (symbol, ex_date)
);
CREATE TABLE earnings (
    symbol TEXT NOT NULL REFERENCES tickers(symbol),
    period_end DATE NOT NULL,
    revenue DECIMAL(18, 2) NOT NULL,
    eps DECIMAL(10, 4) NOT NULL,
    beat BOOLEAN NOT NULL,
    PRIMARY KEY (symbol, period_end)
);
CREATE INDEX daily_prices_date ON daily_prices(date);
CREATE VIEW latest_close AS
    SELECT p.symbol, t.name, t.sector, p.date, p.close
    FROM daily_prices AS p JOIN tickers AS t USING (symbol)
    WHERE p.date = (SELECT max(date) FROM daily_prices);
"""


def _symbols(rng: random.Random, count: int) -> list[str]:
    symbols: set[str] = set()
    while len(symbols) < count:
        length = rng.choice((3, 4, 4))
        symbols.add("".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(length)))
    return sorted(symbols)


def _trading_days() -> list[dt.date]:
    days = []
    day = START
    end = START.replace(year=START.year + YEARS)
    while day < end:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def _prices(rng: random.Random, symbol: str, days: list[dt.date]) -> Iterator[tuple[object, ...]]:
    price = rng.uniform(20, 400)
    drift = rng.uniform(-0.0002, 0.0003)
    vol = rng.uniform(0.008, 0.016)
    base_volume = rng.randint(200_000, 20_000_000)
    for day in days:
        open_ = price * math.exp(rng.gauss(0, vol / 3))
        close = open_ * math.exp(drift + rng.gauss(0, vol))
        high = max(open_, close) * (1 + abs(rng.gauss(0, vol / 2)))
        low = min(open_, close) * (1 - abs(rng.gauss(0, vol / 2)))
        volume = int(base_volume * math.exp(rng.gauss(0, 0.4)))
        yield (symbol, day.isoformat(), round(open_, 2), round(high, 2), round(low, 2),
               round(close, 2), volume)  # fmt: skip
        price = close


def build_sample(path: Path, tickers: int = 50) -> Path:
    """Write the sample database to ``path`` (replacing any earlier one) and return it."""
    rng = random.Random(SEED)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.unlink(missing_ok=True)
    days = _trading_days()
    try:
        connection = sqlite3.connect(temp)
        try:
            connection.executescript(SCHEMA)
            for symbol in _symbols(rng, tickers):
                name = "".join(rng.choice(SYLLABLES) for _ in range(2)).title()
                suffix = rng.choice(("Inc.", "Corp.", "Holdings", "Group", "plc"))
                connection.execute(
                    "INSERT INTO tickers VALUES (?, ?, ?, ?, ?, ?)",
                    (symbol, f"{name} {suffix}", rng.choice(SECTORS),
                     rng.choice(("NYSE", "NASDAQ")), days[0].isoformat(),
                     rng.randint(50, 5000) * 1_000_000),
                )  # fmt: skip
                connection.executemany(
                    "INSERT INTO daily_prices VALUES (?, ?, ?, ?, ?, ?, ?)",
                    _prices(rng, symbol, days),
                )
                pays = rng.random() < 0.6
                dividend = round(rng.uniform(0.05, 1.5), 4)
                for quarter in range(YEARS * 4):
                    period = dt.date(START.year + quarter // 4, 3 * (quarter % 4) + 1, 1)
                    period_end = period + dt.timedelta(days=89)
                    if pays:
                        connection.execute(
                            "INSERT INTO dividends VALUES (?, ?, ?)",
                            (symbol, (period + dt.timedelta(days=45)).isoformat(),
                             f"{dividend:.4f}"),
                        )  # fmt: skip
                    eps = round(rng.gauss(1.2, 0.8), 4)
                    connection.execute(
                        "INSERT INTO earnings VALUES (?, ?, ?, ?, ?)",
                        (symbol, period_end.isoformat(), f"{rng.uniform(1e8, 5e10):.2f}",
                         f"{eps:.4f}", int(rng.random() < 0.62)),
                    )  # fmt: skip
            connection.commit()
        finally:
            connection.close()
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def ensure_sample(data_dir: Path) -> tuple[Path, bool]:
    """The sample database in ``data_dir``, built if missing; True when just built."""
    path = data_dir / SAMPLE_FILE
    if path.exists():
        return path, False
    return build_sample(path), True
