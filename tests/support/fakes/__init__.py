"""Fake provider APIs, one module per provider, each built on tests/support/fakehttp.py.

Fakes should subclass ``tests.support.fakes._base.ProviderFake`` (a FakeHTTPServer with Nagle off and a
token table: ``add_token(secret, profile)``) so tests can plant canary secrets, and follows the provider's
documented response and error shapes (401, 403 with missing permissions, 429 with Retry-After).
"""
