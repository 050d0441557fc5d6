"""`python -m augment train`: real-only vs augmented rating models on unseen real rows, over several seeds."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from augment.cli import Parser, add_common, finite_float, off_or_positive, positive_int, run_cli, settle
from augment.train.flags import add_learner_flags, add_source_flags


def build_parser() -> Parser:
    parser = Parser(
        prog="python -m augment train",
        description="Fit a rating learner on real rows only and on real + synthetic rows (and the controls: more "
        "real rows, the real rows repeated, EDA copies; and synthetic rows only), over several seeds and sizes, "
        "and report RMSE, MAE and Spearman on the real test split with 95 percent CIs, paired tests and a verdict.",
    )
    add_source_flags(parser, "synthetic rows with the same columns (with --run: instead of the run's admitted "
                     "rows, e.g. rows `augment filter` admitted in another mode)")
    parser.add_argument("--synthetic-target", metavar="COLUMN", help="take the synthetic rows' target from this "
                        "column, e.g. text_rating: the rating the filter's judge (TF-IDF + ridge fit on the run's "
                        "real train split) reads in each text, clipped to the real target's range, so the learner is "
                        "taught the judge's reading (distillation) instead of the rating the text was written for")
    parser.add_argument("--out", metavar="DIR", help="results folder (default: RUN/report/train, or ./train-results)")
    parser.add_argument("--sizes", type=positive_int, nargs="+", default=[250, 500, 1000, 2000], metavar="N",
                        help="real train rows per setting (default: 250 500 1000 2000)")
    parser.add_argument("--ratios", type=finite_float, nargs="+", default=[1.0, 3.0], metavar="R",
                        help="synthetic rows per real row (default: 1 3)")
    parser.add_argument("--repeats", "--seeds", dest="seeds", type=positive_int, default=5, metavar="N",
                        help="seeds per setting, a count (default 5): --seed, --seed+1, ... --seed+N-1")
    parser.add_argument("--arms", nargs="+", default=["augmented", "synthetic", "more real", "repeated", "eda"],
                        metavar="ARM", help="arms besides real-only (default: all of augmented, synthetic, 'more "
                        "real', repeated, eda); without repeated and eda a gain is reported as not checked against "
                        "the controls. 'synthetic first' (with --learner finetune): the augmented rows in two "
                        "stages, one pass over the synthetic rows, then the epochs over the real ones. "
                        "'self-labelled': the augmented rows, each synthetic row's target replaced by the real-only "
                        "model's prediction for its text (self-training). 'ensemble-labelled': the same, labelled by "
                        "the mean of 5 learners fit on resamples of the real rows (soft targets). 'curated': the real "
                        "rows + synthetic rows drawn from those that ensemble reads near their label and agrees about "
                        "(CLLM-style curation). 'smoothed': each synthetic label moved halfway toward that ensemble's "
                        "reading (label smoothing). 'reweighted': synthetic rows drawn in proportion to how well "
                        "that reading agrees with their label (noise-robust weighting). 'rebalanced': a control for "
                        "rating-balanced synthetic rows, the real rows + as many more drawn from them with every rating "
                        "equally likely")
    add_learner_flags(parser)
    parser.add_argument("--aux-target", metavar="COLUMN", help="multi-task: a binary auxiliary target "
                        "(e.g. 'Recommended IND')")
    parser.add_argument("--fgm", type=off_or_positive, default=0.0, metavar="EPS", help="adversarial training on word "
                        "embeddings with this step size (0: off)")
    parser.add_argument("--lora", action="store_true", help="fine-tune with LoRA adapters instead of every weight")
    add_common(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from augment import jobs
    from augment.distributed import world as distributed_world
    from augment.schema import SchemaOverrides
    from augment.train.experiment import ExperimentConfig
    from augment.train.learners import FineTuneConfig
    from augment.train.outputs import verdict_lines

    parser = build_parser()
    args = settle(parser, parser.parse_args(argv), "train")
    experiment = ExperimentConfig(
        sizes=args.sizes, ratios=args.ratios, seeds=args.seeds, first_seed=args.seed, learner=args.learner,
        arms=args.arms, aux_target=args.aux_target,
        finetune=FineTuneConfig(encoder=args.encoder, epochs=args.epochs, fgm_epsilon=args.fgm, lora=args.lora),
    )
    outcome = jobs.train(run=args.run, data=args.data, synthetic=args.synthetic, out=args.out, experiment=experiment,
                         overrides=SchemaOverrides.from_sources(target=args.target, roles=args.roles),
                         with_fields=args.with_fields, synthetic_target=args.synthetic_target,
                         world=distributed_world(args.device))
    if not outcome:
        return 0  # another rank's job: rank 0 reports
    for line in verdict_lines(outcome["summary"]):
        print(line)
    out = outcome["out"]
    print(f"results: {out / 'results.json'}, {out / 'results.csv'}, {out / 'learning_curve.png'}, {out / 'gain.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
