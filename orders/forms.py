from django import forms

from catalog.models import Product
from orders.services import MAX_LINE_QUANTITY


class AddToBasketForm(forms.Form):
    # Any product, so a discontinued one gets the service's clear message instead of "invalid choice".
    product = forms.ModelChoiceField(queryset=Product.objects.all())
    quantity = forms.IntegerField(min_value=1, max_value=MAX_LINE_QUANTITY, initial=1)


class LineQuantityForm(forms.Form):
    quantity = forms.IntegerField(min_value=0, max_value=MAX_LINE_QUANTITY)


class OrderFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
