"""Text reports for the warehouse staff."""


def render_lines(products):
    """One line per product: ``SKU  qty  name``, newline-terminated."""
    text = ""
    for product in products:
        text += product["sku"] + "  " + str(product["qty"]) + "  " + product["name"] + "\n"
    return text


def unique_tags(products):
    """Every tag used in the catalog, once each, in first-seen order."""
    seen = []
    for product in products:
        for tag in product["tags"]:
            if tag not in seen:
                seen.append(tag)
    return seen


def sku_labels(products):
    """The SKUs of the catalog for the label printer: each followed by a comma."""
    text = ""
    for product in products:
        text += product["sku"] + ","
    return text


def shelf_names(products):
    """The names of the active products for the shelf labels, in catalog order."""
    names = []
    i = 0
    while i < len(products):
        if products[i]["active"]:
            names.append(products[i]["name"])
        i = i + 1
    return names
