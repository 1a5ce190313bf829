"""Demo data for ``make serve``, the docs and the workshop: small, fixed, published logins.

The loader is :func:`fashionistar_dev.demo.load.demo_load`; this module needs no Django.
"""

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "fashionistar-demo"  # noqa: S105 - a published demo login, not a secret
DEMO_ADMIN_USERNAME = "admin"
DEMO_ADMIN_PASSWORD = "fashionistar-admin"  # noqa: S105 - make serve's published admin login

DEMO_CATALOG: dict[str, list[tuple[str, str, str, list[str], list[str]]]] = {
    "dresses": [
        (
            "Linen Summer Dress",
            "Light linen, knee length.",
            "89.00",
            ["S", "M", "L"],
            ["sand", "olive"],
        ),
        ("Silk Evening Dress", "Bias-cut silk.", "249.00", ["S", "M"], ["black"]),
    ],
    "jackets": [
        ("Denim Jacket", "Rigid denim, boxy fit.", "120.00", ["M", "L", "XL"], ["indigo"]),
        ("Wool Overcoat", "Double-faced wool.", "399.00", ["M", "L"], ["camel", "charcoal"]),
    ],
    "shoes": [
        (
            "Leather Loafers",
            "Hand-stitched leather.",
            "159.00",
            ["40", "41", "42", "43"],
            ["brown"],
        ),
        ("Canvas Sneakers", "Organic cotton canvas.", "69.00", ["39", "40", "41", "42"], ["white"]),
    ],
}
DEMO_STOCK_PER_VARIANT = 25
