"""The bucket of a customer in an experiment: the one hash every back end computes.

bucket = the first 4 bytes of MD5(salt + ":" + customer_id), read big-endian, modulo
10,000. MD5 because DuckDB and Spark compute it natively (``md5`` over the UTF-8 bytes,
as hex), so the SQL back ends assign exactly as this module does; it is a spreading
function here, not a security measure. A share of s takes round(s x 10,000) buckets.
"""

from __future__ import annotations

import hashlib

BUCKETS = 10_000
UNIVERSAL = "universal_holdout"  # the universal holdout's experiment id, arm and default salt


def bucket(salt: str, customer_id: str) -> int:
    """The customer's bucket, 0 to 9,999, for an experiment salted with ``salt``."""
    # surrogatepass: an id the Python API was handed with a lone surrogate (no file or
    # JSON body carries one) still has a bucket rather than an exception.
    digest = hashlib.md5(f"{salt}:{customer_id}".encode("utf-8", "surrogatepass"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:4], "big") % BUCKETS


def bucket_count(share: float) -> int:
    """How many of the 10,000 buckets a share takes (rounded: 0.29 is 2,900, not 2,899)."""
    return round(share * BUCKETS)
