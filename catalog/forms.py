from django import forms

from catalog.models import Category
from catalog.selectors import Bought, ProductFilters, Sort
from vendors.models import Vendor


class ProductFilterForm(forms.Form):
    """The catalogue's query string; an invalid value is dropped rather than failing the whole page."""

    q = forms.CharField(required=False, max_length=100, label="Search")
    category = forms.ModelChoiceField(queryset=Category.objects.all(), required=False, empty_label="All")
    vendor = forms.ModelChoiceField(queryset=Vendor.objects.all(), required=False, empty_label="All")
    min_price = forms.DecimalField(required=False, min_value=0, max_digits=10, decimal_places=2)
    max_price = forms.DecimalField(required=False, min_value=0, max_digits=10, decimal_places=2)
    bought = forms.ChoiceField(choices=Bought.CHOICES, required=False)
    sort = forms.ChoiceField(choices=Sort.CHOICES, required=False)

    def to_filters(self) -> ProductFilters:
        self.is_valid()
        # Fields that failed validation are absent from cleaned_data, so they simply do not filter.
        data = self.cleaned_data
        category = data.get("category")
        vendor = data.get("vendor")
        return ProductFilters(
            query=data.get("q", "").strip(),
            category_id=category.pk if category else None,
            vendor_id=vendor.pk if vendor else None,
            min_price=data.get("min_price"),
            max_price=data.get("max_price"),
            bought=data.get("bought") or Bought.ANY,
            sort=data.get("sort") or Sort.NAME,
        )
