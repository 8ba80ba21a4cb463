"""The product page's "similar products" sentence, worded by the one function the API uses too.

{% load similarity_tags %}
{{ row.similarity|similarity_sentence }}
"""

from django import template

from recommendations import explanations

register = template.Library()


@register.filter
def similarity_sentence(similarity: float) -> str:
    return explanations.similarity_sentence(similarity=similarity)
