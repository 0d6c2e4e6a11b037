"""Pipeline files (TOML), one per dataset plus the embedded demo. Shipped as lt_data.pipelines."""
