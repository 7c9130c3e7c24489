from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from cyberatlas.accounts import views as accounts
from cyberatlas.api import api
from cyberatlas.interop import taxii
from cyberatlas.interop import views as interop
from cyberatlas.investigations import views as investigations
from cyberatlas.knowledge import views as knowledge

urlpatterns = [
    path("", knowledge.home, name="home"),
    path("login/", accounts.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/verify/", accounts.verify, name="verify"),
    path("account/two-factor/", accounts.enrol, name="enrol"),
    path("account/tokens/", accounts.tokens, name="tokens"),
    path("search/", knowledge.search, name="search"),
    path("entities/<str:entity_id>/", knowledge.entity, name="entity"),
    path("statements/new/", knowledge.add, name="statement-add"),
    path("statements/<uuid:statement_id>/history/", knowledge.history, name="statement-history"),
    path("statements/<uuid:statement_id>/<str:action>/", knowledge.change, name="statement-change"),
    path("matches/", interop.proposals, name="matches"),
    path("matches/<int:proposal_id>/judge/", interop.judge, name="match-judge"),
    path("matches/<int:proposal_id>/undo/", interop.undo, name="match-undo"),
    path("investigations/", investigations.index, name="investigations"),
    path("investigations/<str:name>/", investigations.detail, name="investigation"),
    path("coordination/applications/", accounts.applications, name="applications"),
    path("coordination/<str:kind>/<str:name>/<str:outcome>/", accounts.decide, name="decide"),
    path("coordination/audit/", accounts.audit_log, name="audit"),
    path("api/v1/", api.urls),
    path("taxii2/", include(taxii.urlpatterns)),
    path("admin/", admin.site.urls),
]
