"""Language models behind one streaming, tool-using interface (:mod:`.base`)."""
