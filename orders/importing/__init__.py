"""The parts of the transaction import (`orders.imports`) that only the PostgreSQL path needs.

- `bulk`: rebuilding the order lines' indexes and foreign keys instead of maintaining them row by row, when
  an import at least doubles the table;
- `online_retail`: the Online Retail file read in batches straight into COPY text, the reference reader
  (`orders.sources.online_retail`) deciding every line the batch code does not recognise as plain.
"""
