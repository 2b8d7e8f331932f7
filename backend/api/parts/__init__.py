"""HTTP views of parts and money: the catalog and stock ledger, the fee schedule and quotes, bills and
payments."""
