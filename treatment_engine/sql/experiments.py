"""Experiments (appendix H) in the decision query: the same buckets and arms as
:mod:`treatment_engine.experiments`, computed in SQL.

The bucket is MD5 in SQL too, of the UTF-8 text, in both DuckDB and Spark (see
:func:`digest_sql` and :func:`bucket_sql`).

A holdout with ``control: next`` gives its rows the next applicable rule, without a
second copy of every rule's test: in the CASE that finds the first rule, such a rule's
test also asks that the row is outside its holdout (:meth:`ExperimentStages.passing`),
so a held row goes on to the rules below it (``__passed``). Only the tests of rules with
such a holdout are then repeated (:meth:`ExperimentStages.championed`): the champion is
the first of them before ``__passed`` that applies (every rule before ``__passed`` that
applies was passed over for its holdout), else ``__passed``; a row held out of its
champion is decided by the next of them that applies, else by ``__passed``. The query
gains stages between choosing the first rule and listing its channels:

0. championed: the champion (``__champion``) from ``__passed``;
1. hashed: the digests (universal holdout, the champion rule's experiment) and the
   experiment's index among the plan's experiments (``__xi``, NULL for a champion
   without one); then bucketed: the buckets;
2. armed: the arm, the experiment, the bucket and what decides (``__pick``), read from
   constant lists by ``__xi``, as the outputs are by rule position;
3. assigned: the position of the rule that decides (``__rule``: the champion's, a
   challenger's variant, the next applicable rule, or a holdout's ``none``). Variants
   are appended to the plan's rules, so every output is still read from constant lists
   by ``__rule``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from sqlglot import exp

from ..compile import CompiledPlan, CompiledRule
from ..experiments.buckets import BUCKETS, UNIVERSAL
from ..experiments.compiled import CHAMPION, HOLDOUT
from .fragments import LIST_BASE, Dialect, and_, case, element, not_, paren, select, string

PASSED = "__passed"  # the first rule that applies, passing over a control: next holdout's rows
NEXT = -1  # __pick: the next applicable rule decides (a holdout's control: next)
WOULD_HAVE_COLUMNS = ("would_have_rule", "would_have_treatment", "would_have_actions", "would_have_channels",
                      "would_have_cost")
Branch = tuple[exp.Expr, exp.Expr]
BIGINT = exp.DataType.build("BIGINT")
UBIGINT = exp.DataType.build("UBIGINT", dialect="duckdb")


def has_experiments(plan: CompiledPlan) -> bool:
    return plan.holdout is not None or any(rule.experiment is not None for rule in plan.rules)


def _none_rule(rule: CompiledRule, rule_id: str) -> CompiledRule:
    """A rule that decides nothing, under ``rule_id``: a holdout's control ``none``."""
    return dataclasses.replace(rule, id=rule_id, treatment="none", actions=(), channels=(), action_cost=0.0,
                               needs_profit_check=False, static_channels=(), experiment=None)


class ExperimentStages:
    """The extra rules (appended after the plan's and the default) and the stages that
    pick among them. ``applies`` is the query builder's test that a rule decides a row
    (with True: for a row its constraints and condition admit)."""

    def __init__(self, plan: CompiledPlan, applies: Callable[[CompiledRule, bool], exp.Expr],
                 dialect: Dialect = "duckdb") -> None:
        self.plan = plan
        self.applies = applies
        self.dialect = dialect
        self.list_base = LIST_BASE[dialect]
        self.extra: list[CompiledRule] = []
        base = len(plan.rules) + 1  # the plan's rules, then the default
        self.positions: dict[tuple[int, str], int] = {}  # (champion position, arm) -> variant position
        self.challenger_positions: set[int] = set()
        for index, rule in enumerate(plan.rules):
            if rule.experiment is None:
                continue
            for arm in rule.experiment.arms:
                variant = arm.variant if arm.variant is not None else (
                    _none_rule(rule, rule.id) if rule.experiment.control == "none" else None)
                if variant is not None:
                    self.positions[(index, arm.id)] = base + len(self.extra)
                    if arm.variant is not None:
                        self.challenger_positions.add(base + len(self.extra))
                    self.extra.append(variant)
        self.universal = None
        if plan.holdout is not None:
            self.universal = base + len(self.extra)
            self.extra.append(_none_rule(plan.default, HOLDOUT))
        self.experimenting = [(index, rule.experiment) for index, rule in enumerate(plan.rules)
                              if rule.experiment is not None]
        # The positions of rules whose holdout gives the next applicable rule to somebody.
        self.falling = [index for index, e in self.experimenting if e.control == "next"
                        and any(a.id == HOLDOUT and a.high > a.low for a in e.arms)]

    def by_experiment(self, values: list[exp.Expr]) -> exp.Expr:
        """One value per experiment of the plan, read by the champion's (``__xi``): lists as
        long as the plan's experiments, where lists by rule position are mostly NULLs."""
        return element(values, exp.column("__xi"), self.list_base)

    # -- stages ---------------------------------------------------------------------------

    def hashed(self, chosen: exp.Select) -> exp.Select:
        """The digests (:func:`digest_sql`) and the champion's experiment index; the
        experiment's digest is NULL where the champion has none (its salt is NULL), so only
        those rows hash twice."""
        cid = exp.column("customer_id")
        salts: list[exp.Expr] = [exp.Null()] * (len(self.plan.rules) + 1)  # by rule position, the default's last
        indexes: list[exp.Expr] = [exp.Null()] * (len(self.plan.rules) + 1)
        for number, (index, experiment) in enumerate(self.experimenting):
            salts[index], indexes[index] = string(experiment.salt), exp.Literal.number(number)
        champion = exp.column("__champion")
        columns = [exp.alias_(element(indexes, champion, self.list_base), "__xi", copy=False),
                   exp.alias_(digest_sql(element(salts, champion.copy(), self.list_base), cid, self.dialect),
                              "__xp_digest", copy=False)]
        if self.plan.holdout is not None:
            columns.append(exp.alias_(digest_sql(string(self.plan.holdout.salt), cid.copy(), self.dialect),
                                      "__uh_digest", copy=False))
        return select("*", *columns).from_(_sub(chosen, "chosen"), copy=False)

    def bucketed(self, hashed: exp.Select) -> exp.Select:
        """The buckets, a stage of their own: the digest is read more than once per bucket."""
        columns = [exp.alias_(bucket_sql(exp.column("__xp_digest"), self.dialect), "__xp_bucket", copy=False)]
        if self.plan.holdout is not None:
            columns.append(exp.alias_(bucket_sql(exp.column("__uh_digest"), self.dialect), "__uh_bucket", copy=False))
        return select("*", *columns).from_(_sub(hashed, "hashed"), copy=False)

    def assigned(self, chosen: exp.Select) -> exp.Select:
        """Four stages: ``hashed``, ``bucketed``, ``armed`` picks each row's arm and what decides it
        (``__pick``: a position, or NEXT for a holdout's next applicable rule); ``assigned``
        resolves ``__rule``, checking a challenger's own ``then`` and finding the next
        applicable rule with one shared CASE (a copy per holdout grew the query with plans:
        50 holdouts in a 500-rule plan made it 15 times longer, and as slow to build and plan)."""
        armed = self.armed(self.bucketed(self.hashed(self.championed(chosen))))
        pick, champion = exp.column("__pick"), exp.column("__champion")
        # Most rows are on their champion's arm: one test takes them out of the CASE, which
        # would otherwise compare each with every challenger's position.
        branches: list[Branch] = [(exp.EQ(this=pick.copy(), expression=champion.copy()), pick.copy())]
        if self.falling:
            branches.append((exp.EQ(this=pick.copy(), expression=exp.Literal.number(NEXT)), self.next_applicable()))
        first_variant = len(self.plan.rules) + 1
        for offset, variant in enumerate(self.extra):
            position = first_variant + offset
            if position in self.challenger_positions:
                # A challenger that cannot be given leaves the champion's then (experiments.assign,
                # which checks only semantics.skip_reason: the champion's conditions admit the row).
                branches.append((exp.EQ(this=pick.copy(), expression=exp.Literal.number(position)),
                                 case([(self.applies(variant, True), exp.Literal.number(position))],
                                      champion.copy())))
        rule = case(branches, pick.copy())
        return select("*", exp.alias_(rule, "__rule", copy=False)).from_(_sub(armed, "armed"), copy=False)

    def armed(self, bucketed: exp.Select) -> exp.Select:
        """The arm by bucket ranges: a rule's arms take [0, high1), [high1, high2), ... in
        declaration order (experiments.compiled), so the k-th arm of every experiment is
        one constant list of upper bounds; a row's arm is the first whose bound its bucket
        is under. A CASE over every rule's arms instead was three comparisons per arm per
        row (50 experiments: 150 WHENs)."""
        champion, number = exp.column("__champion"), exp.column("__xp_bucket")
        none = exp.Is(this=exp.column("__xi"), expression=exp.Null())  # the champion has no experiment
        picks: list[Branch] = []
        arms: list[Branch] = []
        held = None
        if self.plan.holdout is not None:
            held = exp.LT(this=exp.column("__uh_bucket"), expression=exp.Literal.number(self.plan.holdout.size))
            picks.append((held, exp.Literal.number(self.universal)))
            arms.append((held, string(UNIVERSAL)))
        picks.append((none, champion.copy()))
        arms.append((none.copy(), string(CHAMPION)))
        for slot in range(max((len(e.arms) for _, e in self.experimenting), default=0)):
            highs: list[exp.Expr] = []
            positions: list[exp.Expr] = []
            ids: list[exp.Expr] = []
            for index, rule_experiment in self.experimenting:
                arm = rule_experiment.arms[slot] if slot < len(rule_experiment.arms) else None
                given = arm is not None and arm.high > arm.low  # a share that rounds to no bucket: nobody
                highs.append(exp.Literal.number(arm.high) if arm is not None and given else exp.Null())
                positions.append(exp.Literal.number(self.positions.get((index, arm.id), NEXT)) if arm
                                 else exp.Null())
                ids.append(string(arm.id) if arm else exp.Null())
            inside = exp.LT(this=number.copy(), expression=self.by_experiment(highs))
            picks.append((inside, self.by_experiment(positions)))
            arms.append((inside.copy(), self.by_experiment(ids)))
        decided = exp.Is(this=champion.copy(), expression=exp.Null())
        experiment = (self.by_experiment([string(e.id) for _, e in self.experimenting]) if self.experimenting
                      else exp.Null())
        bucket: exp.Expr = number.copy()  # NULL where the champion has no experiment
        if held is not None:
            experiment = case([(held.copy(), string(UNIVERSAL))], experiment)
            bucket = case([(held.copy(), exp.column("__uh_bucket"))], bucket)
        return select(
            "*",
            exp.alias_(case([(decided, exp.Null()), *picks], champion.copy()), "__pick", copy=False),
            exp.alias_(case([(decided.copy(), exp.Null()), *arms], string(CHAMPION)), "__arm", copy=False),
            exp.alias_(experiment, "__experiment", copy=False),
            exp.alias_(bucket, "__bucket", copy=False),
        ).from_(_sub(bucketed, "bucketed"), copy=False)

    def passing(self, tests: list[exp.Expr]) -> list[exp.Expr]:
        """The first-rule CASE's tests, by rule position: a rule with a ``control: next``
        holdout applies only to a row outside that holdout (the MD5 is computed only for
        the rows its own test admits, since AND tests its operands in turn)."""
        return [and_(test, not_(paren(self.held(index)))) if index in self.falling else test
                for index, test in enumerate(tests)]

    def held(self, index: int) -> exp.Expr:
        """Whether a row is in the holdout of the rule at ``index`` (experiments.compiled: the
        holdout's buckets are [low, high))."""
        experiment = self.plan.rules[index].experiment
        assert experiment is not None
        arm = next(a for a in experiment.arms if a.id == HOLDOUT)
        number = single_bucket_sql(string(experiment.salt), exp.column("customer_id"), self.dialect)
        below = exp.LT(this=number, expression=exp.Literal.number(arm.high))
        return paren(and_(exp.GTE(this=number.copy(), expression=exp.Literal.number(arm.low)), below)) \
            if arm.low else below

    def championed(self, chosen: exp.Select) -> exp.Select:
        """The champion: the first rule with a ``control: next`` holdout before ``__passed``
        that applies, else ``__passed`` (a row passed over a rule only for its holdout)."""
        passed = exp.column(PASSED)
        first: list[Branch] = [(and_(exp.LT(this=exp.Literal.number(i), expression=passed.copy()),
                       self.applies(self.plan.rules[i], False)), exp.Literal.number(i)) for i in self.falling]
        champion = case(first, passed.copy()) if first else passed.copy()
        return select("*", exp.alias_(champion, "__champion", copy=False)).from_(_sub(chosen, "passing"), copy=False)

    def next_applicable(self) -> exp.Expr:
        """experiments.assign.next_applicable for a row held out of its champion: the first
        rule after it that applies. Every rule between the champion and ``__passed`` that
        applies has a ``control: next`` holdout the row is in, so only those are tested."""
        champion, passed = exp.column("__champion"), exp.column(PASSED)
        later: list[Branch] = [
            (and_(exp.GT(this=exp.Literal.number(i), expression=champion.copy()),
                  exp.LT(this=exp.Literal.number(i), expression=passed.copy()),
                  self.applies(self.plan.rules[i], False)), exp.Literal.number(i)) for i in self.falling]
        return case(later, passed.copy()) if later else passed.copy()


def _sub(query: exp.Select, name: str) -> exp.Expr:
    return exp.alias_(exp.Subquery(this=query), name, table=True, copy=False)


def digest_sql(salt: exp.Expr, customer_id: exp.Expr, dialect: Dialect) -> exp.Expr:
    """MD5(salt + ":" + customer_id) as :func:`bucket_sql` reads it (NULL when the salt is
    NULL): Spark's ``md5`` as hex; in DuckDB, the low 32 bits of ``md5_number``, the digest
    as one 128-bit number read little-endian, which are its first 4 bytes in reverse order."""
    text = exp.Concat(expressions=[salt, string(":"), customer_id])
    if dialect == "spark":
        return exp.MD5(this=text)
    return exp.Cast(this=exp.BitwiseAnd(this=exp.Anonymous(this="md5_number", expressions=[text]),
                                        expression=exp.Literal.number(0xFFFFFFFF)), to=BIGINT)


def bucket_sql(digest: exp.Expr, dialect: Dialect) -> exp.Expr:
    """experiments.bucket from a :func:`digest_sql`: the digest's first 4 bytes, big-endian,
    modulo 10,000. Spark reads the first 8 hex digits with ``conv``; DuckDB puts the 4 bytes
    back in order with shifts, a third cheaper than formatting the digest as hex and parsing
    8 digits of it back (0.24 against 0.37 s of CPU per million customers) and far cheaper
    than the eight ``strpos`` over the hex alphabet of a portable form, which cost as much
    as the MD5 itself. ``digest`` is referenced more than once in DuckDB: pass a column."""
    if dialect == "spark":
        head = exp.Substring(this=digest, start=exp.Literal.number(1), length=exp.Literal.number(8))
        number: exp.Expr = exp.Cast(this=exp.func("CONV", head, exp.Literal.number(16), exp.Literal.number(10),
                                                  copy=False), to=BIGINT)
    else:
        number = _bytes_reversed(digest)
    return exp.Mod(this=exp.Paren(this=number), expression=exp.Literal.number(BUCKETS))


def single_bucket_sql(salt: exp.Expr, customer_id: exp.Expr, dialect: Dialect) -> exp.Expr:
    """experiments.bucket in one expression that computes the MD5 once, for a place where
    no stage can hold the digest (a rule's test in the first-rule CASE): in DuckDB its
    first 8 hex digits cast as a number (a third dearer per row than :func:`bucket_sql`,
    which references the digest four times, but computed only for the rows a rule admits)."""
    if dialect == "spark":
        return bucket_sql(digest_sql(salt, customer_id, dialect), dialect)
    text = exp.Concat(expressions=[salt, string(":"), customer_id])
    head = exp.Substring(this=exp.MD5(this=text), start=exp.Literal.number(1), length=exp.Literal.number(8))
    number = exp.Cast(this=exp.DPipe(this=string("0x"), expression=head), to=UBIGINT)
    return exp.Mod(this=number, expression=exp.Literal.number(BUCKETS))


def _bytes_reversed(word: exp.Expr) -> exp.Expr:
    """A 32-bit number with its 4 bytes in reverse order."""
    parts: list[exp.Expr] = []
    for byte in range(4):
        shifted = exp.BitwiseRightShift(this=word.copy(), expression=exp.Literal.number(8 * byte))
        masked: exp.Expr = exp.BitwiseAnd(this=exp.Paren(this=shifted) if byte else word.copy(),
                                          expression=exp.Literal.number(255))
        if byte < 3:
            masked = exp.BitwiseLeftShift(this=exp.Paren(this=masked), expression=exp.Literal.number(8 * (3 - byte)))
        parts.append(exp.Paren(this=masked))
    combined = parts[0]
    for part in parts[1:]:
        combined = exp.BitwiseOr(this=combined, expression=part)
    return combined
