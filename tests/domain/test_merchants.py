"""A merchant's configuration, without the API."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.merchants import MerchantConfig
from tests.factories import merchant_body


@pytest.mark.parametrize(
    "policy",
    [
        {"ship_deadline": "999999999d"},
        {"review_deadline": "9" * 150 + "d"},
        {"ship_deadline": "1" * 201},
        {"window": "0.1s"},
        {"ship_deadline": 48},
    ],
)
def test_an_absurd_clock_override_is_refused(policy: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MerchantConfig.model_validate(merchant_body(policy=policy))


def test_a_year_long_clock_override_is_accepted() -> None:
    config = MerchantConfig.model_validate(merchant_body(policy={"ship_deadline": "365d", "ship_reminders": "30d,1d"}))
    assert config.policy == {"ship_deadline": "365d", "ship_reminders": "30d,1d"}
