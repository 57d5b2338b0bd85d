"""Sessions and memory behind one interface (:mod:`.base`); PostgreSQL in :mod:`.postgres`."""
