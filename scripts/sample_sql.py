"""``deploy/sample.sql``: the sample database, as SQL that MariaDB and PostgreSQL both run,
for the databases docker-compose.yml starts. Made from the connector's own sample
(``connector.sample``): every ticker, dividend and earnings row, and the last
``PRICE_DAYS`` trading days of prices (the whole ten years are 130,000 rows; the
connector's SQLite sample keeps those).

    python scripts/sample_sql.py           print it
    python scripts/sample_sql.py --write   write deploy/sample.sql
    python scripts/sample_sql.py --check   exit 1 when deploy/sample.sql is out of date
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from pathlib import Path

from connector.sample import build_sample

TARGET = Path(__file__).resolve().parent.parent / "deploy" / "sample.sql"
PRICE_DAYS = 30
BATCH = 500

SCHEMA = """-- Made by scripts/sample_sql.py from connector/sample.py; do not edit.
CREATE TABLE tickers (
    symbol VARCHAR(10) PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    sector VARCHAR(40) NOT NULL,
    exchange VARCHAR(10) NOT NULL,
    listed_on DATE NOT NULL,
    shares_outstanding BIGINT NOT NULL
);
CREATE TABLE daily_prices (
    symbol VARCHAR(10) NOT NULL REFERENCES tickers(symbol),
    date DATE NOT NULL,
    open DOUBLE PRECISION NOT NULL,
    high DOUBLE PRECISION NOT NULL,
    low DOUBLE PRECISION NOT NULL,
    close DOUBLE PRECISION NOT NULL,
    volume BIGINT NOT NULL,
    PRIMARY KEY (symbol, date)
);
CREATE TABLE dividends (
    symbol VARCHAR(10) NOT NULL REFERENCES tickers(symbol),
    ex_date DATE NOT NULL,
    amount DECIMAL(10, 4) NOT NULL,
    PRIMARY KEY (symbol, ex_date)
);
CREATE TABLE earnings (
    symbol VARCHAR(10) NOT NULL REFERENCES tickers(symbol),
    period_end DATE NOT NULL,
    revenue DECIMAL(18, 2) NOT NULL,
    eps DECIMAL(10, 4) NOT NULL,
    beat BOOLEAN NOT NULL,
    PRIMARY KEY (symbol, period_end)
);
"""


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _inserts(table: str, rows: list[tuple[object, ...]], booleans: set[int] = frozenset()) -> str:
    out = []
    for start in range(0, len(rows), BATCH):
        values = ",\n".join(
            "("
            + ", ".join(
                ("TRUE" if v else "FALSE") if i in booleans else _literal(v)
                for i, v in enumerate(row)
            )
            + ")"
            for row in rows[start : start + BATCH]
        )
        out.append(f"INSERT INTO {table} VALUES\n{values};\n")
    return "".join(out)


def render() -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = build_sample(Path(folder) / "sample.db")
        connection = sqlite3.connect(path)
        try:
            days = [
                row[0]
                for row in connection.execute(
                    "SELECT DISTINCT date FROM daily_prices ORDER BY date DESC LIMIT ?",
                    (PRICE_DAYS,),
                )
            ]
            parts = [
                SCHEMA,
                _inserts(
                    "tickers",
                    connection.execute("SELECT * FROM tickers ORDER BY symbol").fetchall(),
                ),
                _inserts(
                    "daily_prices",
                    connection.execute(
                        "SELECT * FROM daily_prices WHERE date >= ? ORDER BY symbol, date",
                        (min(days),),
                    ).fetchall(),
                ),
                _inserts(
                    "dividends",
                    connection.execute(
                        "SELECT * FROM dividends ORDER BY symbol, ex_date"
                    ).fetchall(),
                ),
                _inserts(
                    "earnings",
                    connection.execute(
                        "SELECT * FROM earnings ORDER BY symbol, period_end"
                    ).fetchall(),
                    booleans={4},
                ),
            ]
        finally:
            connection.close()
    return "".join(parts)


def main(argv: list[str]) -> int:
    if "--write" in argv:
        TARGET.write_text(render(), encoding="utf-8")
        return 0
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != render():
            print("deploy/sample.sql is out of date: python scripts/sample_sql.py --write")
            return 1
        return 0
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
