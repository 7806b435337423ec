"""Experiments in the plan (docs/plan-format.md, appendix H): the universal holdout, rule
holdouts and rule challengers, each customer assigned to an arm by one sticky hash.

:mod:`.buckets` is the hash every back end computes alike; :mod:`.compiled` the arms a
compiled plan carries; :mod:`.assign` what an arm changes in a decision.
"""

from .buckets import BUCKETS, UNIVERSAL, bucket, bucket_count
from .compiled import Arm, CompiledExperiment, CompiledHoldout

__all__ = ["BUCKETS", "UNIVERSAL", "Arm", "CompiledExperiment", "CompiledHoldout", "bucket", "bucket_count"]
