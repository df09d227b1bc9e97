"""The statement guard and parameter binding (connector.statements)."""

from __future__ import annotations

import pytest

from connector.backends import get_backend, kinds
from connector.errors import BadParamError, ReadOnlyError, SqlError
from connector.statements import GuardRules, parameter_names, prepare

# Each dialect's own read-only rules, as its backend declares them.
RULES = {get_backend(kind).dialect: get_backend(kind).guard_rules for kind in kinds()}


def bind(sql: str, params: dict[str, object] | None = None, style: str = "named", **kw: object):  # type: ignore[no-untyped-def]
    dialect = str(kw.get("dialect", "sqlite"))
    return prepare(
        sql,
        params or {},
        dialect=dialect,
        paramstyle=style,
        read_only=kw.get("read_only", True),
        rules=RULES.get(dialect, GuardRules()),
    )  # type: ignore[arg-type]


def test_statements_colon_in_string_literal_is_not_a_parameter() -> None:
    bound = bind("SELECT ':not_a_param', x FROM t WHERE a = :a", {"a": 1})
    assert bound.params == {"a": 1}
    assert "':not_a_param'" in bound.sql


def test_statements_cast_comment_and_slice_are_not_parameters() -> None:
    sql = "SELECT x::int, arr[1:n] -- :ignored\n /* :also */ FROM t WHERE y = :y"
    assert parameter_names(sql, "postgres") == ["y"]


def test_statements_snowflake_path_is_not_a_parameter() -> None:
    assert parameter_names("SELECT src:name FROM t WHERE a = :a", "snowflake") == ["a"]


def test_statements_pyformat_escapes_percent_and_binds_by_name() -> None:
    bound = bind(
        "SELECT * FROM t WHERE s LIKE 'A%' AND x = :x", {"x": 2}, "pyformat", dialect="mysql"
    )
    assert bound.sql == "SELECT * FROM t WHERE s LIKE 'A%%' AND x = %(x)s"
    assert bound.params == {"x": 2}


def test_statements_without_parameters_leave_sql_untouched() -> None:
    bound = bind("SELECT '100%' AS pct;", style="pyformat", dialect="mysql")
    assert bound.sql == "SELECT '100%' AS pct"
    assert bound.params is None


@pytest.mark.parametrize(
    ("style", "sql", "params"),
    [
        ("qmark", "SELECT ? + ? + ?", [1, 2, 1]),
        ("numeric", "SELECT :1 + :2 + :3", [1, 2, 1]),
        ("format", "SELECT %s + %s + %s", [1, 2, 1]),
    ],
)
def test_statements_positional_styles_repeat_values(
    style: str, sql: str, params: list[int]
) -> None:
    bound = bind("SELECT :a + :b + :a", {"a": 1, "b": 2}, style)
    assert (bound.sql, bound.params) == (sql, params)


def test_statements_missing_parameter_is_bad_param() -> None:
    with pytest.raises(BadParamError, match=":sym"):
        bind("SELECT * FROM t WHERE s = :sym")


def test_statements_non_scalar_parameter_is_bad_param() -> None:
    # A flat list is a multi-select and binds as several values; anything deeper is refused.
    with pytest.raises(BadParamError, match="'x'"):
        bind("SELECT :x", {"x": {"a": 1}})
    with pytest.raises(BadParamError, match="'x'"):
        bind("SELECT :x", {"x": [[1, 2]]})


def test_statements_more_than_one_statement_is_refused() -> None:
    with pytest.raises(SqlError, match="one statement"):
        bind("SELECT 1; SELECT 2")


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("SELECT '\x12|s\U0010ffff. Then", "the ' opened at line 1, column 8 is not closed"),
        ('SELECT "a', 'the " opened at line 1, column 8 is not closed'),
        ("SELECT 1 /* never closed", "a quote or comment is not closed"),
    ],
)
def test_statements_sql_that_cannot_be_tokenized_is_one_sentence(sql: str, says: str) -> None:
    # Found by tests/test_fuzz_api.py: the tokenizer's own message quoted the SQL (control
    # characters and all) and did not end as a sentence.
    with pytest.raises(SqlError) as caught:
        bind(sql)
    assert str(caught.value) == f"The SQL could not be read: {says}."


def test_statements_trailing_semicolon_is_one_statement() -> None:
    assert bind("SELECT 1 ;  ").sql == "SELECT 1"


@pytest.mark.parametrize("sql", ["", "   ", "-- only a comment", "SELECT 1\x00"])
def test_statements_empty_or_nul_is_sql_error(sql: str) -> None:
    with pytest.raises(SqlError):
        bind(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO t VALUES (1)",
        "update t set a = 1",
        "DELETE FROM t",
        "DROP TABLE t",
        "CREATE TABLE x (a int)",
        "ALTER TABLE t ADD COLUMN b int",
        "ATTACH 'other.db' AS o",
        "VACUUM INTO 'copy.db'",
        "PRAGMA query_only = 0",
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        "SELECT * INTO new_table FROM t",
        "REPLACE INTO t VALUES (1)",
        "/* hidden */ insert into t values (1)",
        "ANALYZE t",
        "USE other",
        "KILL 5",
        "COMMIT",
        "BEGIN",
    ],
)
def test_statements_read_only_guard_refuses_writes(sql: str) -> None:
    with pytest.raises(ReadOnlyError):
        bind(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "select * from t where note = 'insert into x'",
        "WITH a AS (SELECT 1 AS x) SELECT x FROM a",
        "SELECT 1 UNION ALL SELECT 2",
        "VALUES (1), (2)",
        "PRAGMA table_info(t)",
        "EXPLAIN SELECT 1",
    ],
)
def test_statements_read_only_guard_allows_reads(sql: str) -> None:
    assert bind(sql).sql


def test_statements_writes_allowed_when_not_read_only() -> None:
    assert bind("INSERT INTO t VALUES (:v)", {"v": 1}, read_only=False).params == {"v": 1}


@pytest.mark.parametrize(
    "sql", ["PRAGMA query_only(0)", "pragma main.user_version = 3", "PRAGMA journal_mode=DELETE"]
)
def test_statements_read_only_guard_refuses_pragma_writes(sql: str) -> None:
    with pytest.raises(ReadOnlyError, match="PRAGMA"):
        bind(sql)


@pytest.mark.parametrize("dialect", ["mysql", "postgres"])
def test_statements_the_cached_check_keeps_refusing_writes_on_read_only(dialect: str) -> None:
    # The check is cached by its SQL; the key holds whether the run is read-only, so a
    # write that a read-write connection ran first is still refused on a read-only one,
    # however often either ran.
    write = "INSERT INTO t VALUES (:v)"
    read = "SELECT * FROM t WHERE v = :v"
    for _ in range(3):
        assert bind(write, {"v": 1}, "pyformat", dialect=dialect, read_only=False).params
        with pytest.raises(ReadOnlyError):
            bind(write, {"v": 1}, "pyformat", dialect=dialect)
        assert bind(read, {"v": 2}, "pyformat", dialect=dialect).params == {"v": 2}
        assert bind(read, {"v": 3}, "pyformat", dialect=dialect).params == {"v": 3}
