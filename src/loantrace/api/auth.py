"""Who may call a route: bearer authentication, a declared rule per route, tenant checks.

Every route declares exactly one rule: `Public` (anonymous callers welcome) or a principal
parameter `Annotated[Principal, allow("lender", ...)]`. A test walks the application and
fails on a route without a rule. 401 means no or bad credentials, 403 the wrong role, and a
lender (or borrower) asking for another tenant's object gets 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from loantrace.api.coalesce import Coalescer
from loantrace.api.ratelimit import KeyRateLimiter
from loantrace.domain.access import Principal, Role
from loantrace.domain.errors import LoantraceError, NotFound, Unauthenticated, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer lt_...`")


class Guard:
    """A route's access rule: the roles allowed (none: anonymous callers too)."""

    def __init__(self, roles: tuple[Role, ...]) -> None:
        self.roles = roles

    async def __call__(
        self,
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ) -> Principal:
        if credentials is None:
            raise Unauthenticated("this route needs an API key: Authorization: Bearer <key>")
        # Concurrent requests' keys are read together, in one query off the event loop.
        logins: Coalescer[str, Principal | LoantraceError] = request.app.state.authentications
        principal = await logins.submit(credentials.credentials)
        if isinstance(principal, LoantraceError):
            raise principal
        request.state.principal = principal  # denied attempts are audited too
        cast(KeyRateLimiter, request.app.state.rate_limiter).check(principal.key_id)
        if principal.role not in self.roles:
            allowed = ", ".join(self.roles)
            raise Unauthorized(f"the {principal.role} role may not do this (allowed: {allowed})")
        return principal


class PublicRule:
    """The rule of a route anyone may call; it records nothing about the caller."""

    roles: tuple[Role, ...] = ()

    async def __call__(self) -> None:
        return None


class PublicLimitedRule(PublicRule):
    """A public route with a limit per client address (verification, typed data), so an
    anonymous caller cannot monopolise the node; health checks use plain `Public`."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        limiter = cast(KeyRateLimiter, request.app.state.anonymous_rate_limiter)
        client = request.client.host if request.client else "unknown"
        limiter.check(f"ip:{client}")


def allow(*roles: Role) -> Any:
    """Return the dependency that admits only callers with one of `roles`.

    Put it first in a route's `dependencies`, before anything that takes a scarce resource
    (`ChainBound`), and read the caller with a `PrincipalDep` parameter.
    """
    return Depends(Guard(roles))


async def _principal(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):  # a route read the caller without a guard
        raise Unauthenticated("this route needs an API key")
    return principal


Public = Depends(PublicRule())
PublicLimited = Depends(PublicLimitedRule())
PrincipalDep = Annotated[Principal, Depends(_principal)]

LENDER = allow("lender")
REGULATOR = allow("regulator")
ADMIN = allow("admin")
READERS = allow("lender", "auditor", "regulator")  # read agreements and loans
TRACERS = allow("lender", "regulator")  # fund flows and findings
OPERATORS = allow("lender", "regulator", "admin")  # transaction status


def confine(principal: Principal, owner: str | None, what: str) -> None:
    """Hide another tenant's object: raise NotFound unless `principal` may see `owner`'s."""
    tenant = principal.tenant
    if tenant is None:
        return
    if owner is None or owner.lower() != tenant.lower():
        raise NotFound(f"no {what}")


def rule_of(dependant: Any) -> Guard | PublicRule | None:
    """Return the access rule declared by a route's dependency tree, if any."""
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Guard | PublicRule):
            return dependency.call
        found = rule_of(dependency)
        if found is not None:
            return found
    return None


def api_routes(app: Any) -> list[Any]:
    """Every API route of `app` as served, included routers flattened (each has `.path`,
    `.methods` and `.dependant`)."""
    found: list[Any] = []
    for route in app.routes:
        if hasattr(route, "dependant") and hasattr(route, "methods"):
            found.append(route)
        elif hasattr(route, "effective_route_contexts"):  # FastAPI's included routers
            found.extend(route.effective_route_contexts())
    return found


def public_routes(app: Any) -> set[tuple[str, str]]:
    """Return (method, path) of every route anyone may call."""
    return {
        (method, route.path)
        for route in api_routes(app)
        if isinstance(rule_of(route.dependant), PublicRule)
        for method in route.methods
    }
