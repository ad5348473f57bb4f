"""List functions: which element holds the items, which fields identify an item, and the
partial/delete merge that spine-go applies to writes and notifies (cmdControl partial/delete)."""

from __future__ import annotations

import copy
from typing import Any

from smartgrid.spine.model import ErrorNumber, SpineError

MAX_LIST_ITEMS = 256

# function -> (item element, identifying fields)
LIST_SPECS: dict[str, tuple[str, tuple[str, ...]]] = {
    "loadControlLimitListData": ("loadControlLimitData", ("limitId",)),
    "loadControlLimitDescriptionListData": ("loadControlLimitDescriptionData", ("limitId",)),
    "deviceConfigurationKeyValueListData": ("deviceConfigurationKeyValueData", ("keyId",)),
    "deviceConfigurationKeyValueDescriptionListData": ("deviceConfigurationKeyValueDescriptionData", ("keyId",)),
    "measurementListData": ("measurementData", ("measurementId",)),
    "measurementDescriptionListData": ("measurementDescriptionData", ("measurementId",)),
    "measurementConstraintsListData": ("measurementConstraintsData", ("measurementId",)),
    "electricalConnectionCharacteristicListData": (
        "electricalConnectionCharacteristicData",
        ("electricalConnectionId", "parameterId", "characteristicId"),
    ),
    "electricalConnectionDescriptionListData": ("electricalConnectionDescriptionData", ("electricalConnectionId",)),
    "electricalConnectionParameterDescriptionListData": (
        "electricalConnectionParameterDescriptionData",
        ("electricalConnectionId", "parameterId"),
    ),
}


def items_of(function: str, data: Any) -> list[dict[str, Any]]:
    """The items of a list function's data; SpineError if the shape is wrong or the list too long."""
    element, _ids = LIST_SPECS[function]
    if not isinstance(data, dict):
        raise SpineError(ErrorNumber.GENERAL_ERROR, f"{function} must be an object")
    items = data.get(element, [])
    if items is None:
        items = []
    if not isinstance(items, list):
        raise SpineError(ErrorNumber.GENERAL_ERROR, f"{function}.{element} must be a list")
    if len(items) > MAX_LIST_ITEMS:
        raise SpineError(ErrorNumber.GENERAL_ERROR, f"{function}.{element} has more than {MAX_LIST_ITEMS} items")
    for item in items:
        if not isinstance(item, dict):
            raise SpineError(ErrorNumber.GENERAL_ERROR, f"{function}.{element} items must be objects")
    return items


def _matches(item: dict[str, Any], selectors: dict[str, Any]) -> bool:
    return all(item.get(key) == value for key, value in selectors.items())


def merge(
    function: str,
    current: Any,
    new: Any,
    partial: bool,
    delete_filter: dict[str, Any] | None,
) -> dict[str, Any]:
    """The full data after applying ``new`` to ``current`` (delete first, then the partial update,
    as spine-go's UpdateData). Without a filter the new data replaces the old."""
    if function not in LIST_SPECS:
        if not isinstance(new, dict):
            raise SpineError(ErrorNumber.GENERAL_ERROR, f"{function} must be an object")
        return copy.deepcopy(new)
    element, ids = LIST_SPECS[function]
    new_items = items_of(function, new)
    if not partial and delete_filter is None:
        return {element: copy.deepcopy(new_items)}
    items = copy.deepcopy(items_of(function, current)) if current else []
    if delete_filter is not None:
        selectors = delete_filter.get(f"{function}Selectors")
        elements = delete_filter.get(f"{element}Elements")
        if selectors is not None and not isinstance(selectors, dict):
            raise SpineError(ErrorNumber.GENERAL_ERROR, "delete filter selectors must be an object")
        if elements is not None and not isinstance(elements, dict):
            raise SpineError(ErrorNumber.GENERAL_ERROR, "delete filter elements must be an object")
        kept = []
        for item in items:
            if selectors is None or _matches(item, selectors):
                if elements:
                    for key in elements:
                        if key not in ids:
                            item.pop(key, None)
                    kept.append(item)
                # no elements: the whole item goes
            else:
                kept.append(item)
        items = kept
    if partial or new_items:
        for new_item in new_items:
            key = tuple(new_item.get(f) for f in ids)
            for item in items:
                if tuple(item.get(f) for f in ids) == key:
                    item.update(copy.deepcopy(new_item))
                    break
            else:
                if len(items) >= MAX_LIST_ITEMS:
                    raise SpineError(ErrorNumber.GENERAL_ERROR, f"{function} would exceed {MAX_LIST_ITEMS} items")
                items.append(copy.deepcopy(new_item))
    return {element: items}
