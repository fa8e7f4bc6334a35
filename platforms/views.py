from django.shortcuts import render

from accounts.decorators import member_required
from platforms import catalog


@member_required
def index(request):
    groups = [
        (category, [p for p in catalog.PLATFORMS if p.category == category])
        for category in catalog.CATEGORIES
    ]
    context = {"page": "platforms", "groups": [g for g in groups if g[1]]}
    return render(request, "platforms/index.html", context)
