"""HTTP views of accounts: logging in (auth) and the directory of regions and technicians."""
