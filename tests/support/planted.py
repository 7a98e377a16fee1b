"""A home directory and a repository with planted credentials and decoys.

Every value is generated per run (no token-shaped string is committed). `build()` returns the
expected credentials: provider and where each must be found.
"""

from __future__ import annotations

import json
import random
import string
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.canary import Canaries

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


def rnd(n: int, alphabet: str = ALNUM, rng: random.Random | None = None) -> str:
    r = rng or random.SystemRandom()
    return "".join(r.choice(alphabet) for _ in range(n))


@dataclass
class Expected:
    provider: str
    value: str
    places: list[tuple[str, str]] = field(default_factory=list)  # (path relative to fixture root, locator prefix)
    kind: str | None = None


@dataclass
class Planted:
    root: Path
    home: Path
    repo: Path
    env: dict[str, str]
    expected: list[Expected]
    decoys: list[str]

    def expected_by_value(self) -> dict[str, Expected]:
        return {e.value: e for e in self.expected}


class _Builder:
    def __init__(self, root: Path, canaries: Canaries) -> None:
        self.root, self.c = root, canaries
        self.home, self.repo = root / "home", root / "repo"
        self.expected: list[Expected] = []
        self.decoys: list[str] = []

    def write(self, rel: str, text: str) -> None:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    def plant(self, provider: str, value: str, rel: str, locator: str, kind: str | None = None) -> str:
        self.c.add(value)
        for e in self.expected:
            if e.value == value:
                e.places.append((rel, locator))
                return value
        self.expected.append(Expected(provider, value, [(rel, locator)], kind))
        return value


def gh() -> str:
    return "ghp_" + rnd(36)


def gh_fine() -> str:
    return "github_pat_" + rnd(22) + "_" + rnd(59)


def gho() -> str:
    return "gho_" + rnd(36)


def sk_live() -> str:
    return "sk_live_" + rnd(48)


def sk_test() -> str:
    return "sk_test_" + rnd(48)


def rk_live() -> str:
    return "rk_live_" + rnd(48)


def dop() -> str:
    return "dop_v1_" + rnd(64, HEX)


def fly() -> str:
    return "FlyV1 fm2_" + __import__("base64").b64encode(random.SystemRandom().randbytes(420)).decode()


def render() -> str:
    return "rnd_" + rnd(40)


def heroku() -> str:
    return "HRKU-AA" + rnd(58, ALNUM + "_-")


def supa() -> str:
    return "sbp_" + rnd(40, HEX)


def cfut() -> str:
    return "cfut_" + rnd(40) + rnd(8, HEX)


def cfk() -> str:
    return "cfk_" + rnd(40) + rnd(8, HEX)


def neon() -> str:
    return "napi_" + rnd(60, string.ascii_lowercase + string.digits)


def vercel() -> str:
    return rnd(24)


def akia() -> str:
    return "AKIA" + rnd(16, string.ascii_uppercase + "234567")


def asia() -> str:
    return "ASIA" + rnd(16, string.ascii_uppercase + "234567")


def aws_secret() -> str:
    return rnd(40, ALNUM + "/+")


def npm() -> str:
    return "npm_" + rnd(36)


def pgurl(host: str = "db.internal") -> str:
    return f"postgresql://app:{rnd(24)}@{host}:5432/prod"


def build(root: Path, canaries: Canaries) -> Planted:
    b = _Builder(root, canaries)
    H = "home/"
    # --- CLI logins and configs in the home directory ------------------------------------
    rw_cli = str(uuid.uuid4())
    b.write(
        H + ".railway/config.json",
        json.dumps(
            {
                "projects": {"/home/u/app": {"projectPath": "/home/u/app", "project": str(uuid.uuid4())}},
                "user": {
                    "id": "u1",
                    "accessToken": b.plant("railway", rw_cli, H + ".railway/config.json", "user.accessToken"),
                    "refreshToken": None,
                    "tokenExpiresAt": 4102444800,
                },
            }
        ),
    )
    k1, s1, k2, s2 = akia(), aws_secret(), akia(), aws_secret()
    canaries.add(s1), canaries.add(s2)
    b.write(
        H + ".aws/credentials",
        f"[default]\naws_access_key_id = {b.plant('aws', k1, H + '.aws/credentials', 'default.aws_access_key_id')}\n"
        f"aws_secret_access_key = {s1}\n\n[prod]\naws_access_key_id = "
        f"{b.plant('aws', k2, H + '.aws/credentials', 'prod.aws_access_key_id')}\naws_secret_access_key = {s2}\n",
    )
    k3, s3, t3 = asia(), aws_secret(), rnd(300, ALNUM + "/+=")
    canaries.add(s3), canaries.add(t3)
    b.write(
        H + ".aws/cli/cache/0a1b2c.json",
        json.dumps(
            {
                "Credentials": {
                    "AccessKeyId": b.plant("aws", k3, H + ".aws/cli/cache/0a1b2c.json", "Credentials.AccessKeyId"),
                    "SecretAccessKey": s3,
                    "SessionToken": t3,
                    "Expiration": "2099-01-01T00:00:00Z",
                }
            }
        ),
    )
    b.write(
        H + ".config/gh/hosts.yml",
        "github.com:\n    user: octo\n    oauth_token: "
        + b.plant("github", gho(), H + ".config/gh/hosts.yml", '["github.com"].oauth_token')
        + "\n"
        "    git_protocol: https\n",
    )
    b.write(
        H + ".config/stripe/config.toml",
        f'[default]\ndevice_name = "laptop"\ntest_mode_api_key = '
        f'"{b.plant("stripe", sk_test(), H + ".config/stripe/config.toml", "default.test_mode_api_key")}"\n'
        'live_mode_api_key = "sk_live_********************7xQ2"\n',
    )
    b.write(
        H + ".config/doctl/config.yaml",
        f"access-token: {b.plant('digitalocean', dop(), H + '.config/doctl/config.yaml', 'access-token')}\n"
        f"context: default\n",
    )
    b.write(H + ".fly/config.yml", f"access_token: {b.plant('fly', fly(), H + '.fly/config.yml', 'access_token')}\n")
    b.write(
        H + ".render/cli.yaml",
        f"version: 1\nworkspace: tea-123\napi:\n  key: {b.plant('render', render(), H + '.render/cli.yaml', 'api.key')}\n"
        "  host: https://api.render.com/v1/\n",
    )
    b.write(
        H + ".netrc",
        f"machine api.heroku.com\n  login me@example.org\n  password "
        f"{b.plant('heroku', heroku(), H + '.netrc', 'machine api.heroku.com.password')}\n",
    )
    b.write(H + ".supabase/access-token", b.plant("supabase", supa(), H + ".supabase/access-token", "line 1") + "\n")
    b.write(
        H + ".config/neonctl/credentials.json",
        json.dumps(
            {
                "access_token": b.plant("neon", neon(), H + ".config/neonctl/credentials.json", "access_token"),
                "token_type": "bearer",
                "expires_at": 4102444800,
            }
        ),
    )
    b.write(
        H + ".local/share/com.vercel.cli/auth.json",
        json.dumps({"token": b.plant("vercel", vercel(), H + ".local/share/com.vercel.cli/auth.json", "token")}),
    )
    b.write(
        H + ".config/.wrangler/config/default.toml",
        f'oauth_token = "{b.plant("cloudflare", rnd(43, ALNUM + "_-"), H + ".config/.wrangler/config/default.toml", "oauth_token")}"\n'
        'expiration_time = "2099-01-01T00:00:00.000Z"\n',
    )
    import base64

    dock = base64.b64encode(("ci:" + rnd(30)).encode()).decode()
    b.write(
        H + ".docker/config.json",
        json.dumps(
            {
                "auths": {
                    "registry.example.io": {
                        "auth": b.plant("docker", dock, H + ".docker/config.json", 'auths["registry.example.io"].auth')
                    }
                }
            }
        ),
    )
    kube_tok = rnd(64)
    b.write(
        H + ".kube/config",
        "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n    token: "
        f"{b.plant('kubernetes', kube_tok, H + '.kube/config', 'users[0].user.token')}\n",
    )
    b.write(
        H + ".npmrc",
        f"//registry.npmjs.org/:_authToken={b.plant('npm', npm(), H + '.npmrc', '//registry.npmjs.org/:_authToken')}\n",
    )
    b.write(
        H + ".config/gcloud/application_default_credentials.json",
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "123.apps.googleusercontent.com",
                "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty",
                "refresh_token": b.plant(
                    "gcp",
                    "1//" + rnd(100, ALNUM + "-_"),
                    H + ".config/gcloud/application_default_credentials.json",
                    "refresh_token",
                ),
            }
        ),
    )
    canaries.add("d-FL95Q19q7MQmFpd7hHD0Ty")

    # --- AI-agent configuration in the home directory --------------------------------------
    rw_api = str(uuid.uuid4())  # also planted in the repo's .mcp.json: one credential, two sources
    gh_mcp = gh()
    b.write(
        H + ".cursor/mcp.json",
        json.dumps(
            {
                "mcpServers": {
                    "railway": {
                        "command": "npx",
                        "args": ["-y", "@railway/mcp-server"],
                        "env": {
                            "RAILWAY_API_TOKEN": b.plant(
                                "railway", rw_api, H + ".cursor/mcp.json", "mcpServers.railway.env.RAILWAY_API_TOKEN"
                            )
                        },
                    },
                    "github": {
                        "command": "docker",
                        "env": {
                            "GITHUB_PERSONAL_ACCESS_TOKEN": b.plant(
                                "github",
                                gh_mcp,
                                H + ".cursor/mcp.json",
                                "mcpServers.github.env.GITHUB_PERSONAL_ACCESS_TOKEN",
                            )
                        },
                    },
                    "decoy": {"env": {"GITHUB_TOKEN": "${env:GITHUB_TOKEN}", "RAILWAY_TOKEN": "${RAILWAY_TOKEN}"}},
                }
            },
            indent=2,
        ),
    )
    b.write(
        H + ".claude.json",
        json.dumps(
            {
                "projects": {
                    "/home/u/app": {
                        "mcpServers": {
                            "stripe": {
                                "command": "npx",
                                "env": {
                                    "STRIPE_SECRET_KEY": b.plant(
                                        "stripe",
                                        sk_live(),
                                        H + ".claude.json",
                                        'projects["/home/u/app"].mcpServers.stripe.env.STRIPE_SECRET_KEY',
                                    )
                                },
                            }
                        }
                    }
                },
                "mcpServers": {
                    "supabase": {
                        "command": "npx",
                        "args": [
                            "-y",
                            "@supabase/mcp-server-supabase",
                            "--access-token="
                            + b.plant("supabase", supa(), H + ".claude.json", "mcpServers.supabase.args[2]"),
                        ],
                    }
                },
            }
        ),
    )
    b.write(
        H + ".claude/settings.json",
        json.dumps(
            {
                "env": {
                    "DIGITALOCEAN_ACCESS_TOKEN": b.plant(
                        "digitalocean", dop(), H + ".claude/settings.json", "env.DIGITALOCEAN_ACCESS_TOKEN"
                    )
                }
            }
        ),
    )
    b.write(
        H + ".config/Claude/claude_desktop_config.json",
        json.dumps(
            {
                "mcpServers": {
                    "neon": {
                        "command": "npx",
                        "env": {
                            "NEON_API_KEY": b.plant(
                                "neon",
                                neon(),
                                H + ".config/Claude/claude_desktop_config.json",
                                "mcpServers.neon.env.NEON_API_KEY",
                            )
                        },
                    }
                }
            }
        ),
    )
    b.write(
        H + ".codeium/windsurf/mcp_config.json",
        json.dumps(
            {
                "mcpServers": {
                    "cloudflare": {
                        "serverUrl": "https://bindings.mcp.cloudflare.com/sse",
                        "headers": {
                            "Authorization": "Bearer "
                            + b.plant(
                                "cloudflare",
                                cfut(),
                                H + ".codeium/windsurf/mcp_config.json",
                                "mcpServers.cloudflare.headers.Authorization",
                            )
                        },
                    }
                }
            }
        ),
    )
    b.write(
        H + ".kiro/settings/mcp.json",
        json.dumps(
            {
                "mcpServers": {
                    "render": {
                        "env": {
                            "RENDER_API_KEY": b.plant(
                                "render",
                                render(),
                                H + ".kiro/settings/mcp.json",
                                "mcpServers.render.env.RENDER_API_KEY",
                            )
                        }
                    }
                }
            }
        ),
    )
    b.write(
        H + ".codex/config.toml",
        '[mcp_servers.vercel]\ncommand = "npx"\n\n[mcp_servers.vercel.env]\nVERCEL_TOKEN = '
        f'"{b.plant("vercel", vercel(), H + ".codex/config.toml", "mcp_servers.vercel.env.VERCEL_TOKEN")}"\n',
    )
    b.write(
        H + ".gemini/settings.json",
        json.dumps(
            {
                "mcpServers": {
                    "heroku": {
                        "env": {
                            "HEROKU_API_KEY": b.plant(
                                "heroku", heroku(), H + ".gemini/settings.json", "mcpServers.heroku.env.HEROKU_API_KEY"
                            )
                        }
                    }
                }
            }
        ),
    )
    b.write(H + ".gemini/.env", f"GITHUB_TOKEN={b.plant('github', gh_fine(), H + '.gemini/.env', 'GITHUB_TOKEN')}\n")
    b.write(
        H + ".continue/config.yaml",
        "name: mine\nmcpServers:\n  - name: fly\n    command: flyctl\n    env:\n      FLY_API_TOKEN: "
        f'"{b.plant("fly", fly(), H + ".continue/config.yaml", "mcpServers[0].env.FLY_API_TOKEN")}"\n',
    )
    b.write(
        H + ".config/Code/User/mcp.json",
        json.dumps(
            {
                "servers": {
                    "pg": {
                        "command": "npx",
                        "env": {
                            "DATABASE_URL": b.plant(
                                "postgres",
                                pgurl("pg.example.net"),
                                H + ".config/Code/User/mcp.json",
                                "servers.pg.env.DATABASE_URL",
                            )
                        },
                    }
                }
            }
        ),
    )
    b.write(
        H + ".config/zed/settings.json",
        json.dumps(
            {
                "context_servers": {
                    "stripe": {
                        "env": {
                            "STRIPE_API_KEY": b.plant(
                                "stripe",
                                rk_live(),
                                H + ".config/zed/settings.json",
                                "context_servers.stripe.env.STRIPE_API_KEY",
                            )
                        }
                    }
                }
            }
        ),
    )

    # --- a project repository -----------------------------------------------------------------
    R = "repo/"
    b.write(
        R + ".env",
        f"# local dev\nRAILWAY_TOKEN={b.plant('railway', str(uuid.uuid4()), R + '.env', 'RAILWAY_TOKEN')}\n"
        "REQUEST_ID=" + str(uuid.uuid4()) + "\nDEBUG=true\n",
    )
    b.write(
        R + ".env.production", f'DATABASE_URL="{b.plant("postgres", pgurl(), R + ".env.production", "DATABASE_URL")}"\n'
    )
    k4, s4 = akia(), aws_secret()
    canaries.add(s4)
    b.write(
        R + ".env.local",
        f"AWS_ACCESS_KEY_ID={b.plant('aws', k4, R + '.env.local', 'AWS_ACCESS_KEY_ID')}\nAWS_SECRET_ACCESS_KEY={s4}\n",
    )
    b.write(
        R + ".mcp.json",
        json.dumps(
            {
                "mcpServers": {
                    "railway": {
                        "env": {
                            "RAILWAY_API_TOKEN": b.plant(
                                "railway", rw_api, R + ".mcp.json", "mcpServers.railway.env.RAILWAY_API_TOKEN"
                            )
                        }
                    }
                }
            }
        ),
    )
    b.write(
        R + ".vscode/mcp.json",
        json.dumps(
            {
                "servers": {
                    "github": {
                        "type": "http",
                        "url": "https://api.githubcopilot.com/mcp/",
                        "headers": {
                            "Authorization": "Bearer "
                            + b.plant("github", gh(), R + ".vscode/mcp.json", "servers.github.headers.Authorization")
                        },
                    }
                }
            }
        ),
    )
    b.write(
        R + ".cursor/mcp.json",
        json.dumps(
            {
                "mcpServers": {
                    "supabase": {
                        "env": {
                            "SUPABASE_ACCESS_TOKEN": b.plant(
                                "supabase",
                                supa(),
                                R + ".cursor/mcp.json",
                                "mcpServers.supabase.env.SUPABASE_ACCESS_TOKEN",
                            )
                        }
                    }
                }
            }
        ),
    )
    git_tok = gh()
    b.write(
        R + ".git/config",
        '[core]\n\trepositoryformatversion = 0\n[remote "origin"]\n\turl = https://x-access-token:'
        f"{b.plant('github', git_tok, R + '.git/config', 'remote')}@github.com/acme/app.git\n",
    )
    b.write(R + ".git/objects/ab/cdef", "blob " + gh())  # never read: .git internals
    b.write(
        R + "src/settings.py",
        "import os\n\nSTRIPE = os.environ.get('STRIPE')\n"
        f'FALLBACK_KEY = "{b.plant("stripe", sk_live(), R + "src/settings.py", "line 4")}"  # TODO remove\n',
    )
    b.write(
        R + "deploy/values.yaml",
        f"do:\n  token: {b.plant('digitalocean', dop(), R + 'deploy/values.yaml', 'do.token')}\n",
    )
    b.write(
        R + "config/app.toml",
        f'[cloudflare]\nglobal_key = "{b.plant("cloudflare", cfk(), R + "config/app.toml", "cloudflare.global_key")}"\n',
    )
    b.write(
        R + "scripts/deploy.sh",
        '#!/bin/sh\nset -e\nexport FLY_API_TOKEN="'
        f'{b.plant("fly", fly(), R + "scripts/deploy.sh", "line 3")}"\nflyctl deploy\n',
    )
    b.write(
        R + "docs/runbook.md",
        "# Runbook\n\nIn an emergency use the break-glass Heroku key "
        f"{b.plant('heroku', heroku(), R + 'docs/runbook.md', 'line 3')} (ask ops first).\n",
    )
    b.write(
        R + "docker-compose.yml",
        "services:\n  app:\n    environment:\n      DATABASE_URL: "
        f"{b.plant('postgres', pgurl('db'), R + 'docker-compose.yml', 'services.app.environment.DATABASE_URL')}\n",
    )
    b.write(
        R + ".kiro/settings/mcp.json",
        json.dumps(
            {
                "mcpServers": {
                    "gh": {
                        "args": [
                            "--token",
                            "x",
                            "--github-token="
                            + b.plant("github", gh(), R + ".kiro/settings/mcp.json", "mcpServers.gh.args[2]"),
                        ]
                    }
                }
            }
        ),
    )
    b.write(
        R + ".npmrc",
        f"//npm.pkg.github.com/:_authToken={b.plant('npm', npm(), R + '.npmrc', '//npm.pkg.github.com/:_authToken')}\n",
    )
    b.write(R + "infra/terraform.tfvars", f'railway_token = "{rnd(8)}"\nneon_api_key = "x"\n')
    b.write(R + "node_modules/leftpad/index.js", f"const k = '{sk_live()}'\n")  # skipped directory

    # --- decoys: none of these may be reported ------------------------------------------------
    decoys = {
        ".env.example": "STRIPE_SECRET_KEY=sk_live_YOUR_KEY_HERE\nRAILWAY_TOKEN=XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX\n"
        "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nDATABASE_URL=postgres://user:password@localhost:5432/db\n"
        "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nAWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
        "SUPABASE_ACCESS_TOKEN=<your-supabase-token>\nVERCEL_TOKEN=${VERCEL_TOKEN}\n",
        "README.md": "Set `RAILWAY_TOKEN` to your project token. Keys start with sk_live_ for live mode.\n"
        "The commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it. ghp_abc is too short.\n"
        "Example: export FLY_API_TOKEN=$(fly tokens create deploy)\n",
        "src/ids.py": f"REQUEST = '{uuid.uuid4()}'\nHASH = '{rnd(64, HEX)}'\n",
    }
    for rel, text in decoys.items():
        b.write(R + rel, text)
    b.decoys = [
        "sk_live_YOUR_KEY_HERE",
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "postgres://user:password@localhost:5432/db",
        "3f786850e387550fdab836ed7e6dc881de23001b",
    ]

    # --- the process environment --------------------------------------------------------------
    env = {
        "GH_TOKEN": b.plant("github", gh(), "env", "GH_TOKEN"),
        "HEROKU_API_KEY": b.plant("heroku", str(uuid.uuid4()), "env", "HEROKU_API_KEY"),
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "SESSION_ID": str(uuid.uuid4()),
    }
    return Planted(root, b.home, b.repo, env, b.expected, b.decoys)
