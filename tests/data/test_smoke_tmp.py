from datetime import date

from servers.core.db import Database
from servers.data.seed import seed
from servers.data.service import DataService


async def test_seed_and_read(db: Database) -> None:
    n = await seed(db, date(2026, 11, 25))
    assert n > 0
    assert await seed(db, date(2026, 11, 25)) == 0
    svc = DataService(db)
    c = await svc.find_customer("John.Doe@example.com")
    t = await svc.list_tickets(c.customer_id, None)
    assert len(t.tickets) == 4
    rep = await svc.check_integrity()
    assert rep.ok, rep
