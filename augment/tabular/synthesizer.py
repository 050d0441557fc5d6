"""The conditional tabular GAN: `fit` on the train split, `sample` rows, `save` and `load`.

Columns by role: numerical, datetime and a continuous target are continuous; categorical, boolean
and a target with few levels (a 1-5 rating) are discrete and can be conditioned on; an id column is
drawn as a real key through its entity (see entities.py); text is left to the text generator.
Training keeps the generator of the epoch with the best validation quality (SDMetrics
shapes and pair trends against the real validation split), and stops early when it stalls.
Rules every train row keeps (a column another determines, level pairs that never occur) hold in
every sampled row (see constraints.py). The networks also model each row's region of the numbers'
joint, a hidden discrete column (see modes.py). Each sampled row then takes one Gibbs sweep: every
other modelled column is drawn again from a classifier of p(column | the row's other columns) fit on
the train rows, and its target last, from p(target | the row and its entity keys) (see column_model.py).

Under torchrun each process draws its own share of every batch (seeded by seed and rank) and the
gradients are averaged across processes before each step, so the networks stay identical on all
ranks; rank 0 scores the epochs and tells the others.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from augment.distributed import World
from augment.errors import UserError
from augment.evaluate.tabular import quality
from augment.runs import atomic_path, read_json, write_json
from augment.schema import Schema
from augment.tabular.column_model import ColumnModel
from augment.tabular.constraints import Determined, ImpossiblePairs, determined_columns
from augment.tabular.entities import KeyDrawer
from augment.tabular.model import Critic, Generator, activate, condition_loss
from augment.tabular.modes import MODE_COLUMN, Modes
from augment.tabular.sampler import ConditionSampler
from augment.tabular.transformer import DataTransformer, DiscreteColumn

MIN_TRAIN_ROWS = 50
SAMPLE_CHUNK = 5000
CALIBRATION_ROWS = 20000
MAX_REDRAWS = 10  # rounds of drawing again the rows that hold an impossible level pair
REBALANCE_ROUNDS = 5


@dataclass
class GANConfig:
    """The tabular GAN's settings (CTGAN's WGAN-GP with conditional vectors; `pac` rows per critic input)."""
    epochs: int = 300  # the most; early stopping usually ends sooner
    batch_size: int = 500
    pac: int = 10
    noise_dim: int = 128
    generator_dims: tuple[int, ...] = (256, 256)
    critic_dims: tuple[int, ...] = (256, 256)
    learning_rate: float = 5e-4  # CTGAN uses 2e-4; with one score per number 5e-4 learns the joint sooner
    weight_decay: float = 1e-6
    gp_weight: float = 10.0
    gumbel_tau: float = 0.2
    eval_every: int = 2  # epochs between validation scores
    patience: int = 10  # evaluations without improvement before stopping; 0 trains all epochs
    eval_rows: int = 2000
    max_levels: int = 50  # one-hot width of a discrete column at most; rarer levels share an "other" level
    calibrate: bool = True  # after the fit, match each column's marginal to train (DataTransformer.calibrate)
    rules: bool = True  # hold the rules every train row keeps: determined columns, impossible pairs (constraints.py)
    modes: int = 20  # k-means regions of the continuous columns' joint, one more discrete column (modes.py); 0: none
    target_model: bool = True  # draw the target from p(target | the other columns), fit on train (column_model.py)
    gibbs: int = 1  # sweeps redrawing each other modelled column from p(column | the rest), fit on train; 0: none
    sweep_rows: int = 20_000  # the most train rows each sweep model fits on (a seeded sample); 0: every row

    @classmethod
    def from_dict(cls, data: dict) -> GANConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for name in ("generator_dims", "critic_dims"):
            if name in known:
                known[name] = tuple(known[name])
        return cls(**known)


@dataclass
class ColumnPlan:
    """Which columns the networks model, which the entity drawer supplies, and in what order they come out."""
    continuous: list[str] = field(default_factory=list)
    discrete: list[str] = field(default_factory=list)
    entities: list[tuple[str, list[str]]] = field(default_factory=list)  # key, attributes
    output: list[str] = field(default_factory=list)  # every column the GAN produces, in schema order
    carried: list[str] = field(default_factory=list)  # entity attributes taken from the drawn key, not generated
    determined: list[str] = field(default_factory=list)  # looked up from the column that determines them

    @classmethod
    def from_schema(cls, schema: Schema, train: pd.DataFrame, max_levels: int = 50) -> ColumnPlan:
        """Each column's part. An entity's discrete attribute with more than `max_levels` levels (a movie's
        title) is carried: the networks model the entity through its other attributes, and the row takes
        the title of the key drawn for them, so the width never grows with the number of entities."""
        plan = cls()
        for column in schema.columns:
            if column.role == "text":
                continue
            plan.output.append(column.name)
            values = train[column.name]
            discrete = column.role in ("categorical", "boolean") or values.nunique() < 2 or column.is_discrete_target
            if column.role == "id":
                entity = schema.entity_for(column.name)
                plan.entities.append((column.name, list(entity.attributes) if entity else []))
            elif discrete and schema.entity_of(column.name) and values.nunique(dropna=False) > max_levels:
                plan.carried.append(column.name)
            elif discrete:
                plan.discrete.append(column.name)
            else:
                plan.continuous.append(column.name)
        return plan

    def determine(self, rules: list[Determined]) -> None:
        """Move the columns `rules` determine out of the networks' columns."""
        for rule in rules:
            (self.continuous if rule.column in self.continuous else self.discrete).remove(rule.column)
            self.determined.append(rule.column)


class TabularGAN:
    """Conditional GAN for the behavior fields: `fit(train, schema)`, `sample(n, conditions, balance, seed)`,
    `save`/`load`.

    `config` holds the networks' and the fit's settings; `seed` seeds the fit (each `sample` takes its own).
    """
    def __init__(self, config: GANConfig | None = None, seed: int = 0):
        self.config = config or GANConfig()
        self.seed = seed
        self.history: list[dict] = []
        self.best_epoch = 0

    # ------------------------------------------------------------------------------------ fit

    def fit(self, train: pd.DataFrame, schema: Schema, validation: pd.DataFrame | None = None,
            progress: bool = True, init_from: TabularGAN | None = None, world: World | None = None) -> TabularGAN:
        """Fit on `train`; `init_from` warm-starts from an earlier model: its encoding and weights are
        kept (levels it never saw map to its most common one), keys and conditions come from `train`.
        `validation` scores the generator every `eval_every` epochs; the best epoch's is kept.
        `world`: this process's rank and device (one CPU process by default)."""
        if len(train) < MIN_TRAIN_ROWS:
            raise UserError(
                f"the tabular GAN needs at least {MIN_TRAIN_ROWS} train rows, got {len(train)}; "
                "use a larger table (the train split is 70% of the usable rows)"
            )
        cfg = self.config
        world = world or World()
        torch.manual_seed(self.seed)  # the same initial networks on every rank
        # One process keeps the single-seed streams; several ranks each draw their own batches.
        rank_seed = self.seed if world.size == 1 else self.seed * 1009 + world.rank
        rng = np.random.default_rng(rank_seed)
        noise_gen = torch.Generator(world.device).manual_seed(rank_seed)
        train = train.reset_index(drop=True)
        if validation is not None and validation.empty:
            validation = None
        sampler, data, critic = self._setup(train, schema, init_from, world.device)
        step = _Step(self, critic, sampler, data, rng, noise_gen, world)
        batch = max(cfg.pac, min(cfg.batch_size, len(train)) // cfg.pac * cfg.pac)
        steps = max(1, len(train) // batch)
        batch = max(cfg.pac, batch // world.size // cfg.pac * cfg.pac)  # each rank's share of a step's batch
        best_score, best_state, stale = -np.inf, None, 0
        bar = tqdm(range(1, cfg.epochs + 1), desc="tabular GAN", unit="epoch",
                   disable=not progress or not world.is_main)
        started = time.time()
        for epoch in bar:
            self.generator.train()
            for _ in range(steps):
                loss_c, loss_g = step(batch)
            record = {"epoch": epoch, "loss_g": round(loss_g.item(), 4), "loss_critic": round(loss_c.item(), 4),
                      "seconds": round(time.time() - started, 2)}
            if validation is not None and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
                score = round(self._score(validation), 5) if world.is_main else None
                record["validation_quality"] = world.broadcast(score)
                if record["validation_quality"] > best_score:
                    best_score, stale, self.best_epoch = record["validation_quality"], 0, epoch
                    best_state = copy.deepcopy(self.generator.state_dict())
                else:
                    stale += 1
            self.history.append(record)
            bar.set_postfix({k: v for k, v in record.items() if k in ("loss_g", "loss_critic", "validation_quality")}
                            | {"best": self.best_epoch})
            if cfg.patience and stale >= cfg.patience:
                break
        if best_state is not None:
            self.generator.load_state_dict(best_state)
        else:
            self.best_epoch = len(self.history)
        self._calibrate()
        self.critic = critic
        return self

    def _setup(self, train: pd.DataFrame, schema: Schema, init_from: TabularGAN | None,
               device: torch.device) -> tuple[ConditionSampler, torch.Tensor, Critic]:
        """The encoding, entity key drawers, condition samplers and networks for `train`: the training
        sampler, the encoded data and the critic (the generator is `self.generator`)."""
        cfg = self.config
        self.plan = ColumnPlan.from_schema(schema, train, cfg.max_levels)
        self.dtypes = {c.name: (c.role, c.dtype) for c in schema.columns}
        if not cfg.rules:
            self.determined = []
        elif init_from is not None:
            self.determined = copy.deepcopy(init_from.determined)  # its encoding knows only their sources
        else:
            self.determined = determined_columns(train, self.plan.discrete, [
                c for c in self.plan.continuous + self.plan.discrete if c != schema.target and not schema.entity_of(c)])
        self.plan.determine(self.determined)
        # An earlier model's encoding has (or lacks) the regions' column: keep its regions.
        self.modes = copy.deepcopy(init_from.modes) if init_from is not None else \
            Modes.fit(train, self.plan.continuous, min(cfg.modes, cfg.max_levels), self.seed)
        discrete = self.plan.discrete
        if self.modes is not None:
            train = train.assign(**{MODE_COLUMN: self.modes.label(train)})
            discrete = [*discrete, MODE_COLUMN]
        if init_from is not None:
            if init_from.plan.continuous != self.plan.continuous or init_from.plan.discrete != self.plan.discrete:
                raise UserError("--init-from: the earlier run's tabular model has other columns; fit from scratch")
            self.transformer = copy.deepcopy(init_from.transformer)  # calibrated again for this fit
            self.transformer.calibrate(None)
        else:
            self.transformer = DataTransformer().fit(train, self.plan.continuous, discrete, cfg.max_levels)
        self.key_drawers = [
            KeyDrawer.fit(train, key, [a for a in attributes if a not in self.plan.carried],
                          [a for a in attributes if a in self.plan.continuous],
                          [a for a in attributes if a in self.plan.carried])
            for key, attributes in self.plan.entities
        ]
        sampler = ConditionSampler.for_training(self.transformer, train)
        self.sampler = ConditionSampler(self.transformer)
        encoded = self.transformer.transform(train, np.random.default_rng(self.seed))
        self.impossible = ImpossiblePairs.fit(self.transformer, encoded) if cfg.rules else ImpossiblePairs()
        self.target_model = self._fit_target_model(train, schema)
        self.column_models = self._fit_column_models(train, schema)
        data = torch.from_numpy(encoded).to(device)
        self.generator = Generator(cfg.noise_dim, sampler.width, cfg.generator_dims, self.transformer.width)
        critic = Critic(self.transformer.width + sampler.width, cfg.critic_dims, cfg.pac)
        self.generator.to(device), critic.to(device)
        if init_from is not None:
            try:
                self.generator.load_state_dict(init_from.generator.state_dict())
                critic.load_state_dict(init_from.critic.state_dict())
            except RuntimeError:
                raise UserError("--init-from: the earlier run's networks have other sizes; fit from scratch") from None
        return sampler, data, critic

    def _fit_target_model(self, train: pd.DataFrame, schema: Schema) -> ColumnModel | None:
        """p(target | the networks' other columns); None without a modelled target or with the model off.
        A target that is an entity's attribute comes with the entity's key, so it is left to the key."""
        modelled = self.plan.continuous + self.plan.discrete
        target = schema.target
        if not self.config.target_model or target not in modelled or schema.entity_of(target):
            return None
        return ColumnModel.fit(train, self.transformer, target, [c for c in modelled if c != target],
                               [key for key, _ in self.plan.entities], self.seed)

    def _fit_column_models(self, train: pd.DataFrame, schema: Schema) -> list[ColumnModel]:
        """p(column | the other modelled columns) for each modelled column but the target and dates, when
        `gibbs` sweeps are asked for: Gibbs sampling from the GAN's rows toward the train joint."""
        if not self.config.gibbs:
            return []
        modelled = self.plan.continuous + self.plan.discrete
        # One conditional per model: past a few ten thousand rows more rows change its draws little and
        # its fit grows with them. The target's model, which ML efficacy hangs on, keeps every row.
        if 0 < self.config.sweep_rows < len(train):
            train = train.sample(self.config.sweep_rows, random_state=self.seed)
        models = [ColumnModel.fit(train, self.transformer, column, [c for c in modelled if c != column], [],
                                  self.seed + 3 + i)
                  for i, column in enumerate(modelled)
                  if column != schema.target and not getattr(self.transformer.column(column), "datetime", False)]
        return [model for model in models if model is not None]

    def _discrete_slices(self) -> list[tuple[int, int, int]]:
        """(start in the data matrix, width, start in the condition vector) per conditionable column."""
        offsets = self.transformer.discrete_offsets()
        return [(offsets[c.name], c.levels, int(self.sampler.offsets[j]))
                for j, c in enumerate(self.sampler.columns)]

    def _calibrate(self, rounds: int = REBALANCE_ROUNDS, sweep: bool = True) -> None:
        """Fit the transformer's calibration to this generator's output on unconditioned rows; `rounds`
        of rebalancing the level shares when rows holding an impossible pair are drawn again; with
        `sweep`, then each column model's shift, on the rows the sweep draws from."""
        self.transformer.calibrate(None)
        for model in self._column_models():
            model.shift = np.zeros(model.classes)
        if not self.config.calibrate:
            return
        rng = np.random.default_rng(self.seed + 2)
        noise_gen = torch.Generator(next(self.generator.parameters()).device).manual_seed(self.seed + 2)
        self.generator.eval()
        conditions = self.sampler.sample_conditions(CALIBRATION_ROWS, {}, None, rng)[0]
        self.transformer.calibrate(self._generate(conditions, noise_gen).cpu().numpy())
        # Drawing again the rows that hold an impossible pair shifts the level shares: match them on
        # the rows sampling keeps (a few rounds, as which rows are kept depends on the bias).
        for _ in range(rounds if self.impossible.pairs else 0):
            self.transformer.rebalance(self._draw(conditions, noise_gen))
        # Each column model keeps its classes' train shares on the train rows; the rows it draws for
        # are the generator's (and the earlier draws'), so shift its logits to keep them there too.
        if sweep and self._column_models():
            self._rows(CALIBRATION_ROWS, {}, None, rng, noise_gen, match=True)

    def _column_models(self) -> list[ColumnModel]:
        """The sweep's models and the target's, in the order sampling draws them."""
        return [*self.column_models, *([self.target_model] if self.target_model is not None else [])]

    def _generate(self, conditions: np.ndarray, noise_gen: torch.Generator) -> torch.Tensor:
        """The generator's raw output (before activations) for one row per condition vector."""
        device = next(self.generator.parameters()).device
        with torch.no_grad():
            noise = torch.randn(len(conditions), self.config.noise_dim, generator=noise_gen, device=device)
            return self.generator(noise, torch.from_numpy(conditions).to(device))

    def _score(self, validation: pd.DataFrame) -> float:
        self._calibrate(rounds=1, sweep=False)  # enough to rank epochs; the kept generator gets all
        synthetic = self.sample(min(self.config.eval_rows, max(len(validation), 100)), seed=self.seed + 1)
        columns = self.plan.continuous + self.plan.discrete
        return quality(validation[columns], synthetic[columns], self.plan.continuous, self.plan.discrete).quality

    # --------------------------------------------------------------------------------- sample

    def sample(self, n: int, conditions: dict[str, object] | None = None, balance: str | None = None,
               seed: int = 0) -> pd.DataFrame:
        """Exactly `n` rows; every row satisfies `conditions` (no reject loop)."""
        if n < 1:
            raise UserError(f"--rows {n}: must be at least 1")
        conditions = conditions or {}
        self.check_conditions(conditions, balance)
        rng = np.random.default_rng(seed)
        device = next(self.generator.parameters()).device
        noise_gen = torch.Generator(device).manual_seed(seed)
        self.generator.eval()
        parts = [self._rows(min(SAMPLE_CHUNK, n - start), conditions, balance, rng, noise_gen)
                 for start in range(0, n, SAMPLE_CHUNK)]
        return self._typed(pd.concat(parts, ignore_index=True)[self.plan.output])

    def _rows(self, size: int, conditions: dict[str, object], balance: str | None, rng: np.random.Generator,
              noise_gen: torch.Generator, match: bool = False) -> pd.DataFrame:
        """`size` rows: the generator's, the conditions set, one Gibbs sweep, keys, the target, the
        determined columns. `match`: set each column model's shift on these rows (the calibration)."""
        cond_np, _, codes = self.sampler.sample_conditions(size, conditions, balance, rng)
        rows = self.transformer.inverse_transform(self._draw(cond_np, noise_gen), rng)
        # The generator is trained to honour conditions; setting them makes the count exact.
        for j, column in enumerate(self.sampler.columns):
            if column.name in conditions:
                value = self.sampler.level_of(column.name, conditions[column.name])[1]
                rows[column.name] = pd.Series([value] * size, dtype=object)
            elif column.name == balance:
                rows[column.name] = pd.Series(column.values(codes[:, j], rng), dtype=object)
        kept = {*conditions, *([balance] if balance else [])}
        if self.column_models:
            encoded = self.transformer.transform(rows, rng)
            for _ in range(self.config.gibbs):
                for model in self.column_models:
                    name = model.column.name
                    if name not in kept:
                        rows[name] = self._redraw(rows, model, encoded, rng, match)
                        encoded[:, self.transformer.positions([name])] = self.transformer.encode(name, rows[name], rng)
        for drawer in self.key_drawers:
            rows = drawer.assign(rows, set(conditions) & set(drawer.attributes), rng)
        if self.target_model is not None and self.target_model.column.name not in kept:
            encoded = self.transformer.transform(rows, rng)  # the keys may have changed their attributes
            rows[self.target_model.column.name] = self._redraw(rows, self.target_model, encoded, rng, match)
        for rule in self.determined:  # after the conditions and the target, which may set a source
            rows[rule.column] = rule.apply(rows)
        return rows

    def _draw(self, conditions: np.ndarray, noise_gen: torch.Generator) -> np.ndarray:
        """One generated row per condition vector, activated: scores as they are, one level drawn per
        discrete column after the calibration's logit bias, conditioned levels as conditioned. A row
        that holds an impossible level pair is drawn again, up to MAX_REDRAWS rounds; the rest are kept."""
        bias = torch.from_numpy(self.transformer.logit_bias())
        slices = self._discrete_slices()

        def drawn(vectors: np.ndarray) -> np.ndarray:
            raw = self._generate(vectors, noise_gen)
            out = activate(raw + bias.to(raw.device), self.transformer.spans, self.config.gumbel_tau, True,
                           noise_gen).cpu().numpy()
            for start, width, cond_start in slices:
                wanted = vectors[:, cond_start : cond_start + width]
                fixed = wanted.any(axis=1)
                out[fixed, start : start + width] = wanted[fixed]
            return out

        out = drawn(conditions)
        for _ in range(MAX_REDRAWS):
            again = self.impossible.violations(out)
            if not again.any():
                break
            out[again] = drawn(conditions[again])
        return out

    def _redraw(self, rows: pd.DataFrame, model: ColumnModel, encoded: np.ndarray, rng: np.random.Generator,
                match: bool = False) -> pd.Series:
        """`model`'s draw of its column for each row, given the rows' `encoded` matrix (and their keys).
        `match` first sets the model's shift so these rows' draws keep the train shares. A drawn level
        that makes an impossible pair with the row's other levels is drawn again, up to MAX_REDRAWS
        rounds, then the row's own is kept."""
        column = model.column
        logits = model.logits(rows, rng, encoded[:, self.transformer.positions(model.encoder.order)])
        if match:
            logits = model.match_shares(logits)
        classes = model.draw_classes(logits, rng)
        keep_own = np.zeros(len(rows), dtype=bool)
        if isinstance(column, DiscreteColumn) and self.impossible.pairs:
            block = self.transformer.positions([column.name])
            matrix = encoded.copy()
            pending = np.arange(len(rows))  # rows whose drawn level is not yet checked
            for round_ in range(MAX_REDRAWS + 1):
                matrix[np.ix_(pending, block)] = np.eye(column.levels, dtype=np.float32)[classes[pending]]
                pending = pending[self.impossible.violations(matrix[pending])]
                if not len(pending) or round_ == MAX_REDRAWS:
                    break
                classes[pending] = model.draw_classes(logits[pending], rng)
            keep_own[pending] = True
        return model.values(classes, rows.index, rng).where(~keep_own, rows[column.name])

    def check_conditions(self, conditions: dict[str, object], balance: str | None = None) -> None:
        """A UserError for a column that cannot be conditioned on or a value it never takes, before any work."""
        sources = {rule.column: rule.source for rule in self.determined}
        for name in [*conditions, *([balance] if balance else [])]:
            flag = "--balance" if name == balance else "--condition"
            if name in sources:
                raise UserError(f"{flag} {name}: every train row's {name} follows from its {sources[name]}; "
                                f"condition on {sources[name]} instead")
            if name not in self.plan.discrete:
                valid = ", ".join(self.plan.discrete) or "(none)"
                raise UserError(f"{flag} {name}: not a column that can be conditioned on; discrete columns: {valid}")
        self.sampler.resolve(conditions)

    def _typed(self, df: pd.DataFrame) -> pd.DataFrame:
        for name in df.columns:
            _, dtype = self.dtypes[name]
            values = df[name]
            if dtype == "bool":
                df[name] = values.astype("boolean") if values.isna().any() else values.astype(bool)
            elif dtype == "int":
                df[name] = values.astype("Int64") if values.isna().any() else values.astype(np.int64)
            elif dtype == "float":
                df[name] = values.astype(float)
        return df

    # ---------------------------------------------------------------------------- save/load

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, module in (("generator", self.generator), ("critic", self.critic)):
            with atomic_path(folder / f"{name}.safetensors") as tmp:
                save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(tmp))
        if self.target_model is not None:
            with atomic_path(folder / "target.safetensors") as tmp:
                save_file(self.target_model.state(), str(tmp))
        if self.column_models:
            with atomic_path(folder / "columns.safetensors") as tmp:
                save_file({f"{i}.{k}": v for i, model in enumerate(self.column_models)
                           for k, v in model.state().items()}, str(tmp))
        write_json(folder / "config.json", {
            "config": asdict(self.config),
            "seed": self.seed,
            "plan": asdict(self.plan),
            "dtypes": self.dtypes,
            "transformer": self.transformer.to_dict(),
            "key_drawers": [d.to_dict() for d in self.key_drawers],
            "determined": [asdict(rule) for rule in self.determined],
            "impossible_pairs": self.impossible.pairs,
            "modes": asdict(self.modes) if self.modes else None,
            "target_model": self.target_model.to_dict() if self.target_model else None,
            "column_models": [model.to_dict() for model in self.column_models],
            "best_epoch": self.best_epoch,
            "history": self.history,
        })

    @classmethod
    def load(cls, folder: str | Path, device: torch.device | str = "cpu") -> TabularGAN:
        folder = Path(folder)
        meta = read_json(folder / "config.json")
        gan = cls(GANConfig.from_dict(meta["config"]), meta["seed"])
        gan.plan = ColumnPlan(**meta["plan"])
        gan.dtypes = {k: tuple(v) for k, v in meta["dtypes"].items()}
        gan.transformer = DataTransformer.from_dict(meta["transformer"])
        gan.key_drawers = [KeyDrawer(**d) for d in meta["key_drawers"]]
        gan.determined = [Determined(**rule) for rule in meta.get("determined", [])]
        gan.impossible = ImpossiblePairs([tuple(pair) for pair in meta.get("impossible_pairs", [])])
        gan.modes = Modes(**meta["modes"]) if meta.get("modes") else None
        gan.target_model = ColumnModel.from_parts(meta["target_model"], gan.transformer,
                                                  load_file(str(folder / "target.safetensors"))) \
            if meta.get("target_model") else None
        states = load_file(str(folder / "columns.safetensors")) if meta.get("column_models") else {}
        gan.column_models = [
            ColumnModel.from_parts(part, gan.transformer,
                                   {k[len(f"{i}."):]: v for k, v in states.items() if k.startswith(f"{i}.")})
            for i, part in enumerate(meta.get("column_models", []))]
        gan.sampler = ConditionSampler(gan.transformer)
        gan.best_epoch, gan.history = meta["best_epoch"], meta["history"]
        cfg = gan.config
        gan.generator = Generator(cfg.noise_dim, gan.sampler.width, cfg.generator_dims, gan.transformer.width)
        gan.generator.load_state_dict(load_file(str(folder / "generator.safetensors")))
        gan.critic = Critic(gan.transformer.width + gan.sampler.width, cfg.critic_dims, cfg.pac)
        gan.critic.load_state_dict(load_file(str(folder / "critic.safetensors")))
        gan.generator.to(device), gan.critic.to(device)
        return gan


class _Step:
    """One WGAN-GP step: a critic update on real and generated rows, then a generator update.

    Holds what every step of a fit shares (networks, optimizers, the encoded data, the random
    streams); calling it with a batch size returns the critic's and the generator's losses."""

    def __init__(self, gan: TabularGAN, critic: Critic, sampler: ConditionSampler, data: torch.Tensor,
                 rng: np.random.Generator, noise_gen: torch.Generator, world: World):
        cfg = gan.config
        self.gan, self.critic, self.sampler, self.data = gan, critic, sampler, data
        self.rng, self.noise_gen, self.world = rng, noise_gen, world
        self.spans, self.slices = gan.transformer.spans, gan._discrete_slices()
        self.opt_g = torch.optim.Adam(gan.generator.parameters(), lr=cfg.learning_rate, betas=(0.5, 0.9),
                                      weight_decay=cfg.weight_decay)
        self.opt_c = torch.optim.Adam(critic.parameters(), lr=cfg.learning_rate, betas=(0.5, 0.9),
                                      weight_decay=cfg.weight_decay)

    def __call__(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        cfg, generator, critic, device = self.gan.config, self.gan.generator, self.critic, self.world.device
        cond_np, mask_np, rows = self.sampler.sample_training(batch, self.rng)
        cond, mask = torch.from_numpy(cond_np).to(device), torch.from_numpy(mask_np).to(device)
        real = torch.cat([self.data[torch.from_numpy(rows).to(device)], cond], dim=1)

        noise = torch.randn(batch, cfg.noise_dim, generator=self.noise_gen, device=device)
        fake = activate(generator(noise, cond), self.spans, cfg.gumbel_tau, False, self.noise_gen)
        fake = torch.cat([fake, cond], dim=1)
        loss_c = critic(fake.detach()).mean() - critic(real).mean()
        penalty = critic.gradient_penalty(real, fake.detach(), self.noise_gen)
        self.opt_c.zero_grad(set_to_none=True)
        (loss_c + cfg.gp_weight * penalty).backward()
        self.world.average_gradients(critic)
        self.opt_c.step()

        noise = torch.randn(batch, cfg.noise_dim, generator=self.noise_gen, device=device)
        raw = generator(noise, cond)
        fake = torch.cat([activate(raw, self.spans, cfg.gumbel_tau, False, self.noise_gen), cond], dim=1)
        loss_g = -critic(fake).mean() + condition_loss(raw, cond, mask, self.slices)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.world.average_gradients(generator)
        self.opt_g.step()
        return loss_c, loss_g
