from django.shortcuts import render

from accounts.decorators import member_required


@member_required
def connection_list(request):
    return render(request, "connections/list.html", {"page": "connections"})
