"""Runs the scim2-tester conformance checks against a running server.

Usage: conformance.py BASE_URL TOKEN
Exits non-zero when any check is not a success, printing every result.
"""

import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

PASSING = {Status.SUCCESS, Status.COMPLIANT, Status.SKIPPED}

TEAMTAILOR = "urn:ietf:params:scim:schemas:extension:teamtailor:2.0:User"

# Checks that PATCH the Teamtailor extension as a whole (path = its URN).
# scim2-models gives the extension itself no mutability of its own (only
# `required` from /ResourceTypes reaches it), so the tester takes it as
# readWrite although its one attribute, `role`, is readOnly. It then adds
# or replaces it with an empty object and expects to read back an extension
# with no role, and removes it expecting it gone. The role is always shown,
# and changing it is 400 `mutability` (RFC 7644 section 3.5.2), so these
# cannot pass. Declaring the extension required would skip add and remove,
# but scim2-client then refuses every POST and PUT without the extension,
# which it cannot fill (readOnly only), and replace would still be tried. They are
# listed by name so that any other failure still fails the run.
KNOWN_DIVERGENCES = {
    ("check_add_attribute", TEAMTAILOR),
    ("check_replace_attribute", TEAMTAILOR),
    ("check_remove_attribute", TEAMTAILOR),
}


def is_known_divergence(result) -> bool:
    urn = (result.data or {}).get("urn") if isinstance(result.data, dict) else None
    return (result.title, urn) in KNOWN_DIVERGENCES


def main() -> int:
    base_url, token = sys.argv[1], sys.argv[2]
    http = Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client = SyncSCIMClient(http)
    results = check_server(client)
    failed = known = 0
    for result in results:
        ok = result.status in PASSING
        status = result.status.name
        if not ok and is_known_divergence(result):
            ok, status = True, "KNOWN"
            known += 1
        failed += not ok
        line = f"{status:<10} {result.title}"
        if result.resource_type:
            line += f" [{result.resource_type}]"
        if status != "SUCCESS" and result.reason:
            line += f": {result.reason}"
        print(line)
    print(
        f"scim2-tester: {len(results) - failed - known} passed, {failed} failed, "
        f"{known} known divergences (read-only Teamtailor extension)"
    )
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
