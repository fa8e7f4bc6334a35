from django.shortcuts import render

from accounts.decorators import member_required


@member_required
def index(request):
    return render(request, "webhooks/index.html", {"page": "webhooks"})
