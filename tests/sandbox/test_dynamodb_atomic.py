"""moto made to keep DynamoDB's promise the bot's locks rest on: of two conditional writes racing for one
item, exactly one wins (sandbox/dynamodb_atomic.py). Without it moto let both win now and then (a CI run:
two deployers both took the deploy lock)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Four threads race `attribute_not_exists` puts for one key, 150 rounds; a thread switch every microsecond
# (instead of every 5 ms) makes the window between moto's check and its write easy to hit. In a process of
# its own: the switch interval is process-wide and the patch cannot be taken back.
RACE = textwrap.dedent(
    """
    import sys, threading
    import boto3
    from moto import mock_aws

    if sys.argv[1] == "atomic":
        from sandbox import dynamodb_atomic
        dynamodb_atomic.install()
    sys.setswitchinterval(1e-6)
    with mock_aws():
        db = boto3.client("dynamodb", region_name="us-east-1")
        db.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        doubled = 0
        for key in range(150):
            barrier, winners = threading.Barrier(4), []

            def take(who):
                barrier.wait()
                try:
                    db.put_item(
                        TableName="t",
                        Item={"pk": {"S": f"lock#{key}"}, "holder": {"S": str(who)}},
                        ConditionExpression="attribute_not_exists(pk)",
                    )
                    winners.append(who)
                except db.exceptions.ConditionalCheckFailedException:
                    pass

            threads = [threading.Thread(target=take, args=(who,)) for who in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert winners, "nobody won"
            doubled += len(winners) > 1
        print(doubled)
    """
)


def _rounds_with_two_winners(mode: str) -> int:
    run = subprocess.run(
        [sys.executable, "-c", RACE, mode], cwd=ROOT, capture_output=True, text=True, timeout=240, check=True
    )
    return int(run.stdout.strip())


def test_two_conditional_puts_racing_for_one_key_have_exactly_one_winner() -> None:
    assert _rounds_with_two_winners("atomic") == 0


def test_without_the_patch_moto_lets_both_win() -> None:
    """The race the patch closes is real in the moto we pin: if moto fixes it, this says the patch can go."""
    assert _rounds_with_two_winners("moto") > 0
