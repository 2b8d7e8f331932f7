"""factory_boy factories, one module per domain, bound to the test's session (`bind`); each commits
what it builds. Tests use them as `factories.TechnicianFactory(...)`."""

from tests.factories.accounts import *  # noqa: F403
from tests.factories.base import PASSWORD, Base, bind, current_session  # noqa: F401
from tests.factories.geo import *  # noqa: F403
from tests.factories.parts import *  # noqa: F403
from tests.factories.work_orders import *  # noqa: F403
