"""Migration options users expect: redirect map, password hashes carried or reset list."""

import csv

from cart_pipelines.pipeline import report


def read_csv(path):
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_redirect_map_lists_every_changed_url(store, run, tmp_path):
    p = store.records["products"][0]
    products = [p, {**p, "source_id": "2", "sku": "A-2", "url_key": "dame/gensere/bla-genser"},
                {**p, "source_id": "3", "sku": "A-3", "url_key": "kampanje"}]
    r = run(store({"products": products}))
    r()
    with r.staging.connect() as con:
        rep = report.build(con, {}, ("bcrypt",), tmp_path / "reports")
    rows = read_csv(tmp_path / "reports" / "redirects.csv")
    assert {(x["entity"], x["source_id"], x["old_url"], x["new_url"]) for x in rows} == {
        ("products", "1", "/klaer/gensere/bla-genser", "/bla-genser"),
        ("products", "2", "/dame/gensere/bla-genser", "/bla-genser-1"),
        ("categories", "2", "/klaer/gensere", "/gensere"),
    }
    assert rep["redirects"] == 3


def test_password_hashes_carried_only_where_accepted(store, run, tmp_path):
    c = store.records["customers"][0]
    customers = [{**c, "password_hash": "$2y$10$abcdefghijklmnopqrstuv", "password_algorithm": "bcrypt"},
                 {**c, "source_id": "2", "email": "md5@example.no", "password_hash": "5f4dcc3b5aa765d61d8327deb882cf99",
                  "password_algorithm": "md5"},
                 {**c, "source_id": "3", "email": "none@example.no"}]
    r = run(store({"customers": customers}))
    r()
    by = {row["_source_id"]: row for row in r.target_rows("customers")}
    assert by["1"]["password_hash"].startswith("$2y$")
    assert by["2"]["password_hash"] is None and by["3"]["password_hash"] is None
    with r.staging.connect() as con:
        rep = report.build(con, {}, r.target.password_algorithms, tmp_path / "reports")
    rows = read_csv(tmp_path / "reports" / "password_resets.csv")
    assert [(x["source_id"], x["reason"]) for x in rows] == [
        ("2", "the target does not accept md5 hashes"), ("3", "no password hash in the source")]
    assert rep["password_resets"] == 2
