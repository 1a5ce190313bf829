"""The DRF side of the kernel: filter serializers get their own fields, copied cheaply."""

from __future__ import annotations

from fashionistar.catalog.apis.drf import ProductListApi

Filters = ProductListApi.FilterSerializer


def test_each_filter_serializer_gets_its_own_bound_fields() -> None:
    first, second = Filters(data={"page": "2"}), Filters(data={"page": "0", "sort": "nope"})

    for name, field in first.fields.items():
        assert field is not second.fields[name]
        assert field is not Filters._declared_fields[name]
        assert field.parent is first
        assert second.fields[name].parent is second
    assert not second.is_valid()
    assert first.is_valid()
    assert first.validated_data["page"] == 2
    assert set(second.errors) == {"page", "sort"}
    assert Filters._declared_fields["page"].parent is None  # the declared ones stay unbound
