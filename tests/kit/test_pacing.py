"""kit/pacing.py: the header-driven pacer BigCommerce (X-Rate-Limit-*) and WooCommerce hosts (RateLimit-*) share.
The platforms' own tests run it against their emulators' limits (tests/contract/test_bigcommerce.py,
test_woocommerce.py); here its arithmetic, on real responses."""

from __future__ import annotations

import time

import pytest
import requests

from cart_pipelines.platforms.kit.pacing import HeaderPacer, RateHeaders

BC = RateHeaders("X-Rate-Limit-Requests-Left", "X-Rate-Limit-Time-Reset-Ms", "ms",
                 quota="X-Rate-Limit-Requests-Quota", window="X-Rate-Limit-Time-Window-Ms")
IETF = RateHeaders("RateLimit-Remaining", "RateLimit-Reset", "epoch", quota="RateLimit-Limit")


def response(status: int = 200, **headers) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r.headers.update({k.replace("_", "-"): str(v) for k, v in headers.items()})
    return r


def paced(headers: RateHeaders, reserve: int, **kwargs) -> tuple[HeaderPacer, list[float]]:
    slept: list[float] = []
    return HeaderPacer(headers, reserve, sleep=slept.append, **kwargs), slept


def test_waits_for_the_reset_once_no_more_than_the_reserve_is_left():
    pacer, slept = paced(BC, reserve=4)
    headers = {"X-Rate-Limit-Time-Reset-Ms": 800, "X-Rate-Limit-Requests-Quota": 150,
               "X-Rate-Limit-Time-Window-Ms": 30000}
    pacer(response(**{"X-Rate-Limit-Requests-Left": 5}, **headers))
    assert slept == [] and pacer.last["quota"] == "150" and pacer.last["window"] == "30000"
    pacer(response(**{"X-Rate-Limit-Requests-Left": 4}, **headers))
    assert len(slept) == 1 and 0.8 <= slept[0] <= 0.86 and pacer.waits == 1
    # another worker's response while the pause holds waits too, with or without the headers
    pacer(response())
    assert len(slept) == 2 and slept[1] <= slept[0]


def test_a_429_is_left_to_the_retry_and_no_headers_change_nothing():
    pacer, slept = paced(BC, reserve=4)
    pacer(response(429, **{"X-Rate-Limit-Requests-Left": 0, "X-Rate-Limit-Time-Reset-Ms": 5000}))
    pacer(response(200))
    pacer(response(200, **{"X-Rate-Limit-Requests-Left": "many", "X-Rate-Limit-Time-Reset-Ms": 5000}))
    assert slept == [] and pacer.waits == 0


def test_epoch_reset_is_capped_by_max_wait():
    pacer, slept = paced(IETF, reserve=3, max_wait=60.0)
    pacer(response(**{"RateLimit-Remaining": 3, "RateLimit-Reset": int(time.time()) + 2}))
    assert len(slept) == 1 and 0.9 <= slept[0] <= 2.1
    pacer, slept = paced(IETF, reserve=3, max_wait=60.0)
    pacer(response(**{"RateLimit-Remaining": 0, "RateLimit-Reset": int(time.time()) + 3600}))
    assert slept == [pytest.approx(60.05, abs=0.01)]


def test_reset_units():
    with pytest.raises(ValueError):
        RateHeaders("Left", "Reset", "minutes")
    seconds = HeaderPacer(RateHeaders("Left", "Reset", "s"), reserve=0)
    assert seconds.seconds_to_reset(response(Reset=2)) == 2.0
    assert HeaderPacer(BC, reserve=0).seconds_to_reset(response(**{"X-Rate-Limit-Time-Reset-Ms": 1500})) == 1.5
    assert seconds.seconds_to_reset(response()) is None


LIGHTSPEED = RateHeaders("X-RateLimit-Remaining", "X-RateLimit-Reset", "s", quota="X-RateLimit-Limit", separator="/")


def test_three_windows_in_one_header_each_count_on_their_own():
    pacer, slept = paced(LIGHTSPEED, reserve=1)
    limit = {"X-RateLimit-Limit": "300/3000/12000"}
    pacer(response(**{"X-RateLimit-Remaining": "250/2950/11950", "X-RateLimit-Reset": "200/3500/86000"}, **limit))
    assert slept == [] and pacer.last["remaining"] == 250 and pacer.last["quota"] == "300/3000/12000"
    # the 5-minute window is at the reserve: wait for it, not for the hour's or the day's
    pacer(response(**{"X-RateLimit-Remaining": "1/2700/11700", "X-RateLimit-Reset": "2/3400/85900"}, **limit))
    assert slept == [pytest.approx(2.05, abs=0.01)]
    # the hour's spent while the 5 minutes' has room: wait for the hour (capped)
    pacer, slept = paced(LIGHTSPEED, reserve=1, max_wait=30.0)
    pacer(response(**{"X-RateLimit-Remaining": "120/0/9000", "X-RateLimit-Reset": "100/1200/50000"}, **limit))
    assert slept == [pytest.approx(30.05, abs=0.01)]


def test_retry_after_of_a_429_is_the_used_up_window():
    pacer, _ = paced(LIGHTSPEED, reserve=1)
    assert pacer.retry_after(response(429, **{"X-RateLimit-Remaining": "0/2000/9000",
                                              "X-RateLimit-Reset": "42/1200/50000"})) == 42
    assert pacer.retry_after(response(429, **{"X-RateLimit-Remaining": "0/0/9000",
                                              "X-RateLimit-Reset": "42/1200/50000"})) == 1200
    assert pacer.retry_after(response(429)) is None
    assert pacer.retry_after(response(429, **{"X-RateLimit-Remaining": "0/1", "X-RateLimit-Reset": "4"})) is None


def test_requests_in_flight_are_counted_against_the_requests_left():
    """Three workers' requests in flight: an answer saying 4 are left leaves 2 for new requests (the other two
    take theirs), so the pause comes when the budget, not the header alone, is down to the reserve; and comes
    before the request that would be refused, not after its answer."""
    slept: list[float] = []
    pacer = HeaderPacer(BC, reserve=1, sleep=lambda s: (slept.append(s), time.sleep(s)))
    for _ in range(3):
        pacer.before_request()  # requests 1, 2, 3 sent
    pacer._mine.seq = 1  # the answer to request 1 (each thread keeps its own number)
    pacer(response(**{"X-Rate-Limit-Requests-Left": 4, "X-Rate-Limit-Time-Reset-Ms": 100}))
    assert slept == [] and pacer.known[0] == 4 and pacer.in_flight == {2, 3}
    pacer.before_request()  # 4 - 2 in flight = 2 > 1: sent
    assert slept == []
    pacer.before_request()  # 4 - 3 in flight = 1: the reserve; waits for the reset, then goes
    assert len(slept) == 1 and 0.1 <= slept[0] <= 0.16 and pacer.sent == 5
    # a late answer from the window waited out does not start another pause
    pacer._mine.seq = 3
    pacer(response(**{"X-Rate-Limit-Requests-Left": 0, "X-Rate-Limit-Time-Reset-Ms": 5000}))
    pacer.before_request()
    assert len(slept) == 1


def test_answers_counted_out_of_order_take_the_fewest_left():
    """Four workers' requests reach the server in another order than they were sent: the last one sent is counted
    first (7 left) and the others after it (6, 5, 4). The budget is the fewest left less what is still in flight,
    never the latest sent's count less the requests sent after it (which let a fifth worker's request meet a 429
    under load)."""
    slept: list[float] = []
    pacer = HeaderPacer(BC, reserve=1, sleep=lambda s: (slept.append(s), time.sleep(s)))
    headers = {"X-Rate-Limit-Time-Reset-Ms": 100}
    for _ in range(4):
        pacer.before_request()  # requests 1..4 in flight
    pacer._mine.seq = 4
    pacer(response(**{"X-Rate-Limit-Requests-Left": 7}, **headers))
    pacer.after_request()
    assert pacer.known[0] == 7 and pacer.in_flight == {1, 2, 3}
    for seq, left in ((1, 6), (2, 5), (3, 4)):
        pacer._mine.seq = seq
        pacer(response(**{"X-Rate-Limit-Requests-Left": left}, **headers))
        pacer.after_request()
    assert pacer.known[0] == 4 and not pacer.in_flight and slept == []
    for _ in range(3):
        pacer.before_request()  # 4, 3, 2 left with those in flight: sent
    assert slept == []
    pacer.before_request()  # 4 - 3 in flight = 1: the reserve
    assert len(slept) == 1 and 0.1 <= slept[0] <= 0.16


def test_a_request_that_got_no_answer_is_not_in_flight_for_ever():
    pacer, _ = paced(BC, reserve=1)
    pacer.before_request()
    pacer.after_request()  # the connection dropped: no answer, but over
    assert not pacer.in_flight
