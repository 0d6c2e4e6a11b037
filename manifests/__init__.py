"""Class tables and published bucket lists, as data files (JSON). Shipped as lt_data.manifests."""
