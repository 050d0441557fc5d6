"""The table model: one role per column, and entities (a key column and the attributes it determines).

`detect_schema` guesses roles and entities from the data; a schema file (the same JSON that
`Schema.save` writes, possibly partial) and flags override any part of the guess.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from augment.errors import UserError
from augment.runs import read_json, write_json

ROLES = ("id", "categorical", "numerical", "boolean", "datetime", "text", "target")
TARGET_NAMES = ("rating", "ratings", "stars", "score", "label", "target")
ID_NAME = re.compile(r"(^|[\s_\-.])id$|[a-z]Id$|^id[\s_\-]", re.IGNORECASE)
BOOLEAN_VALUES = ({0, 1}, {"0", "1"}, {"true", "false"}, {"yes", "no"}, {"y", "n"}, {"t", "f"})
TRUE_VALUES = {1, "1", "true", "yes", "y", "t"}
KNOWN_BOOLEANS = set().union(*BOOLEAN_VALUES)
DATE_LIKE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}|^\d{1,2}/\d{1,2}/\d{2,4}")

# Tolerances of detection: real tables are noisy.
PARSE_FRACTION = 0.95  # share of values that must parse for a string column to count as numbers/dates
ENTITY_CONSISTENCY = 0.98  # share of rows agreeing with their key's modal value for an attribute
ENTITY_REPORT_FLOOR = 0.5  # near-misses above this are reported, so a user can see why a column was left out
MIN_ENTITY_SUPPORT = 20
MAX_TARGET_LEVELS = 20  # rows in keys seen at least twice; fewer cannot show a dependency
# Numbers beyond this magnitude (and inf) are not values the models can learn: float64 squares
# overflow near 1e154 and standardizing 1e300 is inf. Rows treat them as unparseable (rows.py).
MAX_MAGNITUDE = 1e15


@dataclass
class Column:
    """One column of the table: its role (id, target, text, numerical, categorical, datetime) and type."""
    name: str
    role: str
    dtype: str = "str"  # int, float, str, bool, datetime
    min: float | None = None
    max: float | None = None
    literals: list | None = None  # a boolean's [false, true] as the input writes them, e.g. [0, 1] or ["no", "yes"]

    @property
    def is_numeric(self) -> bool:
        return self.role in ("numerical", "target")

    @property
    def is_discrete_target(self) -> bool:
        """A target of few integer levels (a 1-5 rating): modelled, conditioned and scored as levels."""
        span = (self.max or 0) - (self.min or 0)
        return self.role == "target" and self.dtype == "int" and span < MAX_TARGET_LEVELS


@dataclass
class Entity:
    """A key column (a product id) and the attributes it determines (its department, its class)."""
    key: str
    attributes: list[str]
    # Share of rows agreeing with the key's modal value, for attributes and reported near-misses.
    consistency: dict[str, float] = field(default_factory=dict)
    declared: bool = False


@dataclass
class Schema:
    """The table's columns with their roles, and the entities found or declared among them."""
    columns: list[Column]
    entities: list[Entity] = field(default_factory=list)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise UserError(f"column '{name}' is not in the schema; columns: {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def with_role(self, *roles: str) -> list[str]:
        return [column.name for column in self.columns if column.role in roles]

    @property
    def target(self) -> str | None:
        targets = self.with_role("target")
        return targets[0] if targets else None

    @property
    def text_columns(self) -> list[str]:
        return self.with_role("text")

    def entity_for(self, key: str) -> Entity | None:
        return next((entity for entity in self.entities if entity.key == key), None)

    def entity_of(self, attribute: str) -> Entity | None:
        """The entity whose key determines `attribute`, if any."""
        return next((entity for entity in self.entities if attribute in entity.attributes), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "columns": [asdict(column) for column in self.columns],
            "entities": [asdict(entity) for entity in self.entities],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "schema") -> Schema:
        check_schema_data(data, source)
        try:
            columns = [Column(**column) for column in data["columns"]]
            entities = [Entity(**entity) for entity in data.get("entities", [])]
        except (KeyError, TypeError) as exc:
            raise UserError(f"{source}: not a valid schema ({exc})") from None
        for column in columns:
            _check_role(column.role, f"{source}: column '{column.name}'")
        return cls(columns, entities)

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Schema:
        return cls.from_dict(_read_schema_file(path), source=str(path))


@dataclass
class SchemaOverrides:
    """What a user declares; anything left out is detected.

    A schema file has the JSON form `Schema.save` writes; in it a column may give only its name and
    role, and an "entities" list, when present, replaces detection of entities entirely.
    """

    roles: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    entities: list[Entity] | None = None  # None: detect
    bounds: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)

    @classmethod
    def from_sources(
        cls,
        schema_file: str | Path | None = None,
        target: str | None = None,
        roles: list[str] | None = None,
        entities: list[str] | None = None,
    ) -> SchemaOverrides:
        overrides = cls()
        if schema_file:
            overrides._merge_file(schema_file)
        for item in roles or []:
            name, _, role = item.rpartition("=")
            if not name:
                raise UserError(f"--role {item!r}: expected COLUMN=ROLE, e.g. --role 'Age=numerical'")
            overrides.roles[name] = _check_role(role, f"--role {item!r}")
        if target:
            overrides.target = target
        for item in entities or []:
            key, _, attributes = item.partition("=")
            if not key or not attributes:
                raise UserError(f"--entity {item!r}: expected KEY=ATTR1,ATTR2, e.g. --entity 'user_id=age,gender'")
            declared = Entity(key, [a.strip() for a in attributes.split(",") if a.strip()], declared=True)
            if key in declared.attributes:
                raise UserError(f"--entity {item!r}: the key '{key}' cannot be one of its own attributes")
            overrides.entities = [e for e in overrides.entities or [] if e.key != key] + [declared]
        return overrides

    def _merge_file(self, path: str | Path) -> None:
        data = _read_schema_file(path)
        for i, column in enumerate(data.get("columns", [])):
            if not isinstance(column, dict) or "name" not in column:
                raise UserError(f"{path}: columns[{i}] needs a 'name'")
            if "role" in column:
                self.roles[column["name"]] = _check_role(column["role"], f"{path}: column '{column['name']}'")
            if column.get("min") is not None or column.get("max") is not None:
                self.bounds[column["name"]] = (column.get("min"), column.get("max"))
        if "entities" in data:
            self.entities = [Entity(e["key"], list(e.get("attributes", [])), declared=True) for e in data["entities"]]
            for entity in self.entities:
                if entity.key in entity.attributes:
                    raise UserError(f"{path}: entity '{entity.key}' lists its own key among its attributes")

    def declared_columns(self) -> set[str]:
        names = set(self.roles) | set(self.bounds)
        if self.target:
            names.add(self.target)
        for entity in self.entities or []:
            names.add(entity.key)
            names.update(entity.attributes)
        return names


def _read_schema_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: schema file not found")
    try:
        data = read_json(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: schema file is not valid JSON ({exc})") from None
    check_schema_data(data, str(path))
    return data


def check_schema_data(data: Any, source: str) -> None:
    """Every field of a schema JSON has the type `Schema.save` writes; else a UserError naming it."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: a schema must be a JSON object with 'columns'")
    columns = data.get("columns", [])
    if not isinstance(columns, list):
        raise UserError(f"{source}: 'columns' must be a list of objects, got {type(columns).__name__}")
    for i, column in enumerate(columns):
        where = f"{source}: columns[{i}]"
        if not isinstance(column, dict) or not isinstance(column.get("name"), str):
            raise UserError(f"{where} needs a 'name' that is a string")
        for key in ("role", "dtype"):
            if key in column and not isinstance(column[key], str):
                raise UserError(f"{where} '{column['name']}': '{key}' must be a string")
        literals = column.get("literals")
        if literals is not None and (not isinstance(literals, list) or len(literals) != 2
                                     or any(isinstance(v, dict | list) for v in literals)):
            raise UserError(f"{where} '{column['name']}': 'literals' must be [false, true], e.g. [0, 1]")
        for key in ("min", "max"):
            value = column.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or not np.isfinite(value)):
                raise UserError(f"{where} '{column['name']}': '{key}' must be a finite number or null, got {value!r}")
    entities = data.get("entities", [])
    if not isinstance(entities, list):
        raise UserError(f"{source}: 'entities' must be a list of objects")
    for i, entity in enumerate(entities):
        if (not isinstance(entity, dict) or not isinstance(entity.get("key"), str)
                or not isinstance(entity.get("attributes", []), list)
                or not all(isinstance(a, str) for a in entity.get("attributes", []))):
            raise UserError(f"{source}: entities[{i}] needs a 'key' (a column name) and 'attributes' (a list of names)")


def _check_role(role: str, where: str) -> str:
    if role not in ROLES:
        raise UserError(f"{where}: unknown role '{role}'; roles: {', '.join(ROLES)}")
    return role


# --------------------------------------------------------------------------------------------------
# Detection


def detect_schema(df: pd.DataFrame, overrides: SchemaOverrides | None = None) -> Schema:
    """Roles and entities of `df`, with everything in `overrides` taking precedence."""
    overrides = overrides or SchemaOverrides()
    missing = sorted(overrides.declared_columns() - set(df.columns))
    if missing:
        raise UserError(
            f"declared column(s) {', '.join(map(repr, missing))} not in the data; columns: {', '.join(df.columns)}"
        )
    target = overrides.target or next((n for n, r in overrides.roles.items() if r == "target"), None)
    if target is None:
        target = _guess_target(df, overrides.roles)
    columns = []
    for name in df.columns:
        role = overrides.roles.get(name) or ("target" if name == target else _guess_role(df[name]))
        if name == target:
            role = "target"
        column = _describe(df[name], role)
        if name in overrides.bounds:
            low, high = overrides.bounds[name]
            column.min = column.min if low is None else low
            column.max = column.max if high is None else high
        columns.append(column)
    schema = Schema(columns)
    validate_schema(df, schema)
    if overrides.entities is not None:
        schema.entities = [_measure_entity(df, e.key, e.attributes, declared=True) for e in overrides.entities]
    else:
        schema.entities = detect_entities(df, schema)
    return schema


def key_attributes(df: pd.DataFrame, key: str, attributes: list[str]) -> pd.DataFrame:
    """Each key's most common value of each attribute, one row per key (sorted); a null counts as a
    value, ties go to the value seen first. Dtypes are kept (a nullable Int64 stays Int64; pandas'
    own `mode(dropna=False)` fails on those)."""
    rows = df[df[key].notna()]
    keys = pd.Index(np.sort(rows[key].unique()), name=key)
    out = pd.DataFrame(index=keys)
    for name in attributes:
        codes, uniques = pd.factorize(rows[name], use_na_sentinel=False)
        counts = pd.DataFrame({"key": rows[key].to_numpy(), "code": codes}).groupby(["key", "code"]).size()
        best = counts.groupby(level=0).idxmax()  # (key, code) of each key's largest count
        out[name] = pd.Series(uniques.take(np.array([code for _, code in best])), index=best.index).reindex(keys)
    return out


def validate_schema(df: pd.DataFrame, schema: Schema) -> None:
    """Table-level problems that make the data unusable: each is a UserError naming the column."""
    targets = schema.with_role("target")
    if len(targets) > 1:
        raise UserError(f"more than one target column: {', '.join(targets)}; declare one with --target")
    for name in targets:
        values = df[name]
        if values.isna().all():
            raise UserError(f"target column '{name}' is empty (all values are null)")
        parsed = pd.to_numeric(values, errors="coerce")
        if parsed.notna().sum() < PARSE_FRACTION * values.notna().sum():
            example = values[parsed.isna() & values.notna()].iloc[0]
            raise UserError(f"target column '{name}' is not numeric (e.g. {example!r}); the target must be a number "
                            "(code a class target as 0/1 or 0..K-1, e.g. income >50K as 1)")
    for name in schema.text_columns:
        text = df[name].astype("string").str.strip()
        if text.isna().all() or (text.fillna("") == "").all():
            raise UserError(f"text column '{name}' is empty in every row")


def _guess_target(df: pd.DataFrame, roles: dict[str, str]) -> str | None:
    for name in df.columns:
        if name in roles or str(name).strip().lower() not in TARGET_NAMES:
            continue
        values = df[name]
        if values.isna().all() or pd.to_numeric(values, errors="coerce").notna().any():
            return name  # an all-null rating is still the target; validation then says it is empty
    return None


def _guess_role(values: pd.Series) -> str:
    non_null = values.dropna()
    if non_null.empty:
        return "categorical"  # all null: kept (and generated) as missing
    if pd.api.types.is_bool_dtype(values) or _is_boolean(non_null):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    n_unique = non_null.nunique()
    looks_like_id = bool(ID_NAME.search(str(values.name)))
    if pd.api.types.is_numeric_dtype(values):
        if looks_like_id or (n_unique == len(non_null) and _is_integral(non_null) and len(non_null) > 50):
            return "id"
        return "numerical"
    strings = non_null.astype(str)
    if _parses(strings, numeric=True):
        return "id" if looks_like_id else "numerical"
    if _parses(strings, numeric=False):
        return "datetime"
    words = strings.str.split().str.len()
    unique_ratio = n_unique / len(strings)
    if looks_like_id:
        return "id"
    if n_unique > 50 and unique_ratio > 0.2 and words.mean() >= 2:
        return "text"
    if n_unique > 50 and unique_ratio > 0.5 and words.max() <= 1:
        return "id"  # codes such as user names or product SKUs
    return "categorical"


def _is_boolean(non_null: pd.Series) -> bool:
    values = set(non_null.unique().tolist())
    if len(values) != 2:
        return False
    normalized = {v.strip().lower() if isinstance(v, str) else v for v in values}
    return any(normalized == allowed for allowed in BOOLEAN_VALUES)


def _is_integral(values: pd.Series) -> bool:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return bool(len(numbers)) and bool(np.all(np.mod(numbers, 1) == 0))


def _parses(strings: pd.Series, numeric: bool) -> bool:
    sample = strings.sample(min(len(strings), 500), random_state=0)
    if numeric:
        parsed = pd.to_numeric(sample, errors="coerce")
    else:
        if not sample.str.match(DATE_LIKE).mean() >= PARSE_FRACTION:
            return False
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return parsed.notna().mean() >= PARSE_FRACTION


def _describe(values: pd.Series, role: str) -> Column:
    column = Column(name=str(values.name), role=role)
    if role in ("numerical", "target"):
        numbers = finite_numbers(values).dropna()
        column.dtype = "int" if _is_integral(numbers) else "float"
        if len(numbers):
            column.min, column.max = _plain(numbers.min()), _plain(numbers.max())
    elif role == "boolean":
        column.dtype = "bool"
        column.literals = _boolean_literals(values)
    elif role == "datetime":
        column.dtype = "datetime"
    elif role == "id" and pd.api.types.is_integer_dtype(values):
        column.dtype = "int"
    return column


def booleans(values: pd.Series) -> pd.Series:
    """`values` read as booleans (nullable): 0/1, true/false, yes/no, y/n, t/f in any case; else null."""
    normalized = values.map(lambda v: v.strip().lower() if isinstance(v, str) else v)
    known = normalized.notna() & normalized.isin(KNOWN_BOOLEANS)
    return normalized.where(known).map(lambda v: v if pd.isna(v) else v in TRUE_VALUES).astype("boolean")


def _boolean_literals(values: pd.Series) -> list | None:
    """[false, true] as the column writes them (the first spelling seen of each), when it has both."""
    spellings = pd.Series(values.dropna().unique(), dtype=object)
    found: dict[bool, Any] = {}
    for value, flag in zip(spellings, booleans(spellings), strict=True):
        if not pd.isna(flag):
            found.setdefault(bool(flag), value.item() if hasattr(value, "item") else value)
    return [found[False], found[True]] if len(found) == 2 else None


def finite_numbers(values: pd.Series) -> pd.Series:
    """`values` as float numbers; what does not parse, is not finite or exceeds MAX_MAGNITUDE is NaN."""
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.dtype == object:  # e.g. Python ints too large for int64
        numbers = pd.to_numeric(numbers.map(lambda v: float(v) if isinstance(v, int | float) else np.nan))
    if pd.api.types.is_bool_dtype(numbers):
        return numbers
    beyond = numbers.abs() > MAX_MAGNITUDE  # False for NaN; True for inf
    return numbers.astype(float).mask(beyond) if beyond.any() else numbers  # integers stay integers


def _plain(value: Any) -> float | int:
    value = value.item() if hasattr(value, "item") else value
    return int(value) if float(value).is_integer() else float(value)


def detect_entities(df: pd.DataFrame, schema: Schema) -> list[Entity]:
    """Functional dependencies key -> attribute, tolerating a little noise.

    A key is an id column that repeats (a user with many ratings, an item with many reviews); an
    attribute is a categorical, numerical or boolean column on which the rows of each key agree.
    """
    candidates = schema.with_role("categorical", "numerical", "boolean")
    entities = []
    for key in schema.with_role("id"):
        keys = df[key]
        if keys.nunique() > 0.5 * keys.notna().sum():
            continue  # (nearly) one row per key: every column would look determined
        entity = _measure_entity(df, key, [c for c in candidates if df[c].nunique() > 1], declared=False)
        if entity.attributes:
            entities.append(entity)
    return entities


def _measure_entity(df: pd.DataFrame, key: str, attributes: list[str], declared: bool) -> Entity:
    repeated = df[df[key].duplicated(keep=False) & df[key].notna()]
    kept, consistency = [], {}
    for attribute in attributes:
        if len(repeated) < MIN_ENTITY_SUPPORT and not declared:
            break
        share = _agreement(repeated, key, attribute) if len(repeated) else 1.0
        if declared or share >= ENTITY_CONSISTENCY:
            kept.append(attribute)
        if declared or share >= ENTITY_REPORT_FLOOR:
            consistency[attribute] = round(share, 4)
    return Entity(key, kept, consistency, declared)


def _agreement(rows: pd.DataFrame, key: str, attribute: str) -> float:
    """Share of rows whose attribute equals the modal value of their key (null counts as a value)."""
    values = rows[attribute].astype("string").fillna("\x00null")
    counts = values.groupby(rows[key]).value_counts()
    return float(counts.groupby(level=0).max().sum() / len(rows))
