"""Entity keys for synthetic rows: a real key whose attributes the row has, drawn with its real frequency.

The GAN generates an entity's attributes (an item's department and class), never its key: one-hot
keys would be thousands of columns. Each synthetic row then takes a real key with exactly those
attributes; when the generated combination matches no key, the nearest existing combination
(fewest differing attributes, numbers measured in train standard deviations) is used and the row's
attributes are set to it. So key -> attribute consistency is 100% by construction. Carried
attributes (too many levels to generate, such as a movie's title) are not matched: the row takes
the drawn key's own value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from augment.errors import UserError
from augment.schema import key_attributes
from augment.tabular.transformer import category_key


@dataclass
class KeyDrawer:
    """Draws an entity key for generated attributes: among the keys whose real attributes are closest, by their rows."""
    key: str
    attributes: list[str]
    numeric: list[str]  # attributes compared by distance; the rest must match exactly or count 1
    scales: list[float]  # standard deviation of each numeric attribute
    profiles: list[list]  # distinct attribute combinations (JSON values)
    keys: list[list]  # keys of each profile
    counts: list[list[int]]  # rows of each key in train
    carried: list[str] = field(default_factory=list)  # attributes the key brings, never matched
    carried_values: list[list[list]] = field(default_factory=list)  # per profile, per key: its carried values

    @classmethod
    def fit(cls, train: pd.DataFrame, key: str, attributes: list[str], numeric: list[str],
            carried: list[str] = ()) -> KeyDrawer:
        rows = train[train[key].notna()]
        # One profile per key: its most common attribute values (detection tolerates a little noise).
        described = [*attributes, *carried]
        per_key = key_attributes(rows, key, described)
        sizes = rows.groupby(key, sort=True).size()
        profile_ids = per_key[attributes].apply(lambda r: tuple(category_key(v) for v in r), axis=1) if attributes \
            else pd.Series([()] * len(per_key), index=per_key.index)
        profiles, keys, counts, carried_values = [], [], [], []
        for _, members in per_key.groupby(profile_ids, sort=True):
            profiles.append([_plain(v) for v in members[attributes].iloc[0].tolist()])
            keys.append([_plain(k) for k in members.index])
            counts.append([int(sizes[k]) for k in members.index])
            carried_values.append([[_plain(v) for v in values] for values in members[list(carried)].to_numpy().tolist()])
        scales = [float(pd.to_numeric(train[a], errors="coerce").std()) or 1.0 for a in numeric]
        return cls(key, attributes, numeric, scales, profiles, keys, counts, list(carried), carried_values)

    def assign(self, rows: pd.DataFrame, fixed: set[str], rng: np.random.Generator) -> pd.DataFrame:
        """Give each row a key; its attributes become that key's. Columns in `fixed` never change."""
        n_profiles = len(self.profiles)
        distance = np.zeros((len(rows), n_profiles))
        for i, name in enumerate(self.attributes):
            wanted = rows[name]
            have = [p[i] for p in self.profiles]
            if name in self.numeric:
                scale = self.scales[self.numeric.index(name)]
                diff = np.abs(pd.to_numeric(wanted, errors="coerce").to_numpy(float)[:, None] - np.array(have, float))
                mismatch = np.nan_to_num(diff / scale, nan=1.0)
                exact = diff == 0
            else:
                wanted_keys = np.array([category_key(v) for v in wanted], dtype=object)
                exact = wanted_keys[:, None] == np.array([category_key(v) for v in have], dtype=object)
                mismatch = (~exact).astype(float)
            if name in fixed:
                if not exact.any(axis=1).all():
                    raise UserError(
                        f"--condition {name}: no {self.key} in the train split has this value together with "
                        f"the other conditions on {', '.join(sorted(fixed & set(self.attributes)))}"
                    )
                mismatch = np.where(exact, 0.0, np.inf)
            distance += mismatch
        weights = np.array([sum(c) for c in self.counts], dtype=float)
        best = np.isclose(distance, distance.min(axis=1, keepdims=True)) * weights
        if not np.isfinite(distance.min(axis=1)).all():
            raise UserError(f"--condition: no {self.key} in the train split satisfies all conditions together")
        chosen = _draw(best, rng)
        out = rows.copy()
        members = np.zeros(len(chosen), dtype=np.int64)
        for profile in np.unique(chosen):  # each profile's keys drawn at once, by their train rows
            at = np.flatnonzero(chosen == profile)
            counts = np.asarray(self.counts[profile], dtype=float)
            members[at] = rng.choice(len(counts), size=len(at), p=counts / counts.sum())
        out[self.key] = [self.keys[p][m] for p, m in zip(chosen, members)]
        for i, name in enumerate(self.attributes):
            values = [self.profiles[p][i] for p in chosen]
            out[name] = pd.Series(values, index=out.index).astype(rows[name].dtype, errors="ignore")
        for i, name in enumerate(self.carried):
            out[name] = pd.Series([self.carried_values[p][m][i] for p, m in zip(chosen, members)], index=out.index)
        return out

    def to_dict(self) -> dict:
        return asdict(self)


def _draw(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One column index per row, with probability proportional to the row's weights."""
    cumulative = weights.cumsum(axis=1)
    u = rng.random(len(weights)) * cumulative[:, -1]
    return (cumulative > u[:, None]).argmax(axis=1)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if value is not None and not isinstance(value, str) and pd.isna(value):
        return None
    return value
