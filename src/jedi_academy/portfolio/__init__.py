"""Signed, reproducible therapist portfolios over the store's hash chain.

Public API (imported lazily, so the CLI stays fast)::

    instance_key(data_dir) -> Ed25519PrivateKey         # created per data directory, 0600
    public_key_text(key) -> "ed25519:BASE64"
    CaseInput, SessionInput, PortfolioRequest            # the explicit input model
    build_portfolio(database, data_dir, request, out) -> PortfolioBuilt
    portfolio_request(database, therapist, *, include=None, exclude=None) -> PortfolioRequest
    verify_bundle(folder, public_key=None) -> VerifyReport
    recompute_problems(settings, database, folder, body, options) -> (problems, runs)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jedi_academy.lazy import lazy_exports

if TYPE_CHECKING:
    from jedi_academy.portfolio.build import (
        CaseInput,
        PortfolioBuilt,
        PortfolioRequest,
        SessionInput,
        build_portfolio,
    )
    from jedi_academy.portfolio.keys import instance_key, public_key_text
    from jedi_academy.portfolio.recompute import RecomputeOptions, recompute_problems
    from jedi_academy.portfolio.source import portfolio_request
    from jedi_academy.portfolio.verify import VerifyReport, verify_bundle

_LAZY = {
    "CaseInput": "build",
    "PortfolioBuilt": "build",
    "PortfolioRequest": "build",
    "SessionInput": "build",
    "build_portfolio": "build",
    "instance_key": "keys",
    "public_key_text": "keys",
    "RecomputeOptions": "recompute",
    "recompute_problems": "recompute",
    "portfolio_request": "source",
    "VerifyReport": "verify",
    "verify_bundle": "verify",
}

__all__ = [
    "CaseInput",
    "PortfolioBuilt",
    "PortfolioRequest",
    "RecomputeOptions",
    "SessionInput",
    "VerifyReport",
    "build_portfolio",
    "instance_key",
    "portfolio_request",
    "public_key_text",
    "recompute_problems",
    "verify_bundle",
]

__getattr__ = lazy_exports(__name__, _LAZY)
