"""Demo migration (seed 001): a seeded random sample of 10 orders with their customers and products (filled up to
10 each), reviews of those, plus what they need — drawn so that all of it loads."""

from cart_pipelines.model.entities import ENTITY_NAMES


def scope(r, entity):
    return {s for (s,) in r.query("SELECT source_id FROM scope WHERE entity = ?", [entity])}


def test_demo_draws_ten_of_each_and_brings_what_they_need(sample_store, run):
    r = run(sample_store)
    r(mode="demo", demo_seed=3)
    orders = scope(r, "orders")
    assert len(orders) == 10
    products, customers = scope(r, "products"), scope(r, "customers")
    assert 10 <= len(products) and 10 <= len(customers)
    needed_products = {p for (p,) in r.query(
        "SELECT DISTINCT i.product_id FROM (SELECT unnest(items) AS i FROM staged_orders WHERE source_id IN "
        "(SELECT source_id FROM scope WHERE entity = 'orders'))")}
    assert needed_products <= products
    needed_customers = {c for (c,) in r.query(
        "SELECT DISTINCT customer_id FROM staged_orders WHERE customer_id IS NOT NULL AND source_id IN "
        "(SELECT source_id FROM scope WHERE entity = 'orders') AND customer_id IN (SELECT source_id FROM staged_customers)")}
    assert needed_customers <= customers
    cats = scope(r, "categories")
    parents = {p for (p,) in r.query(
        "SELECT parent_id FROM staged_categories WHERE parent_id IS NOT NULL AND source_id IN "
        "(SELECT source_id FROM scope WHERE entity = 'categories')")}
    assert parents <= cats  # ancestors come along, so the tree is whole
    reviews = scope(r, "reviews")
    reviewed = r.query("SELECT product_id, customer_id FROM staged_reviews WHERE source_id IN "
                       "(SELECT source_id FROM scope WHERE entity = 'reviews')")
    assert reviews and all(p in products and c in customers for p, c in reviewed)
    loaded = {e: n for e, n in r.query(
        "SELECT entity, count(*) FROM ledger WHERE outcome = 'loaded' GROUP BY 1")}
    # every drawn order loads (none is skipped for want of its customer), and so does every review in scope
    assert (loaded["orders"], loaded["reviews"], loaded["products"]) == (10, len(reviews), len(products))
    skipped = dict(r.query("SELECT entity, count(*) FROM ledger WHERE rule = 'not_in_demo_sample' GROUP BY 1"))
    assert skipped["reviews"] == int(r.query("SELECT count(*) FROM staged_reviews")[0][0]) - len(reviews)


def test_demo_draw_is_seedable(sample_store, run, tmp_path):
    a = run(sample_store)
    a(mode="demo", demo_seed=3, entities=ENTITY_NAMES)
    first = scope(a, "orders")
    a(mode="demo", demo_seed=3)
    assert scope(a, "orders") == first
    a(mode="demo", demo_seed=4)
    assert scope(a, "orders") != first
