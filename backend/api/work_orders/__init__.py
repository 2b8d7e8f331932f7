"""HTTP views of work orders: repair requests (customers, staff, partner platforms), the orders and
their moves, and the customer's tracking."""
