"""A fake GitHub REST API (api.github.com) following GitHub's documented responses.

Profiles (``add_token(secret, profile)``):
  full         classic PAT, scopes ``repo, delete_repo, admin:org, workflow``
  scoped       classic PAT, scopes ``read:user, repo:status`` (no repository deletion)
  readonly     classic PAT with no scopes (public read-only)
  fine_grained fine-grained PAT (no X-OAuth-Scopes header)
  forbidden    every endpoint answers 403 "Resource not accessible by personal access token"
Unknown tokens get GitHub's 401 ``{"message": "Bad credentials", ...}``.
"""

from __future__ import annotations

from typing import Any

from tests.support.fakehttp import FakeRequest, Reply
from tests.support.fakes._base import ProviderFake

DOCS = "https://docs.github.com/rest"

SCOPES = {"full": "repo, delete_repo, admin:org, workflow", "scoped": "read:user, repo:status", "readonly": ""}


class FakeGitHub(ProviderFake):
    def __init__(self, repos: int = 3) -> None:
        super().__init__()
        self.tokens: dict[str, str] = {}
        self.user = {"login": "octo", "id": 1, "type": "User"}
        self.repos: list[dict[str, Any]] = [
            {
                "id": 100 + i,
                "full_name": f"octo/repo-{i}",
                "name": f"repo-{i}",
                "private": i % 2 == 0,
                "archived": False,
                "fork": False,
                "owner": {"login": "octo"},
                "permissions": {"admin": i != 2, "push": True, "pull": True},
            }
            for i in range(repos)
        ]
        self.orgs = [
            {"organization": {"login": "octo-org"}, "role": "admin", "state": "active"},
            {"organization": {"login": "other-org"}, "role": "member", "state": "active"},
        ]
        self.route("GET", r"/user")(self._user)
        self.route("GET", r"/user/repos")(self._repos)
        self.route("GET", r"/user/memberships/orgs")(self._orgs)

    def add_token(self, secret: str, profile: str) -> str:
        self.tokens[secret] = profile
        return secret

    def _auth(self, req: FakeRequest) -> tuple[str | None, Reply | None]:
        auth = req.headers.get("authorization", "")
        token = auth.split(" ", 1)[1] if " " in auth else None
        profile = self.tokens.get(token or "")
        if profile is None:
            return None, (401, {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"})
        if profile == "forbidden":
            return profile, (
                403,
                {
                    "message": "Resource not accessible by personal access token",
                    "documentation_url": DOCS,
                    "status": "403",
                },
                {"X-Accepted-GitHub-Permissions": "metadata=read"},
            )
        return profile, None

    def _headers(self, profile: str) -> dict[str, str]:
        h = {"X-RateLimit-Remaining": "4999", "X-GitHub-Media-Type": "github.v3"}
        if profile in SCOPES:
            h["X-OAuth-Scopes"] = SCOPES[profile]
            h["X-Accepted-OAuth-Scopes"] = ""
        else:
            h["github-authentication-token-expiration"] = "2027-01-01 00:00:00 UTC"
        return h

    def _user(self, req: FakeRequest) -> Reply:
        profile, err = self._auth(req)
        if err:
            return err
        return 200, self.user, self._headers(profile or "")

    def _repos(self, req: FakeRequest) -> Reply:
        profile, err = self._auth(req)
        if err:
            return err
        scopes = SCOPES.get(profile or "")
        if scopes is not None and "repo" not in [x.strip() for x in scopes.split(",")]:
            # a classic token without the repo scope sees public repositories only
            return 200, [r for r in self.repos if not r["private"]], self._headers(profile or "")
        return 200, self.repos, self._headers(profile or "")

    def _orgs(self, req: FakeRequest) -> Reply:
        profile, err = self._auth(req)
        if err:
            return err
        if profile != "full":
            return 403, {
                "message": "You need at least read:org scope or admin:org scope to list your organization memberships.",
                "documentation_url": DOCS,
                "status": "403",
            }
        return 200, self.orgs, self._headers(profile)
