from .config import Settings as Settings
from .engine.models import get_scorer as get_scorer
from .engine.models import load_scorer as load_scorer
from .engine.ranking import RankedTake as RankedTake
from .engine.ranking import overall_score as overall_score
from .engine.ranking import rank_takes as rank_takes
from .engine.report import SongReport as SongReport
from .engine.report import song_report as song_report
from .engine.report import TakesReport as TakesReport
from .engine.report import takes_report as takes_report
from .engine.result import ScoreResult as ScoreResult
from .engine.result import SegmentScore as SegmentScore
from .engine.scoring import Scorer as Scorer
from .errors import ApexError as ApexError
from .errors import ErrorCode as ErrorCode
from .scores import AESTHETIC_KEYS as AESTHETIC_KEYS
from .scores import OUTPUT_BY_KEY as OUTPUT_BY_KEY
from .scores import OUTPUTS as OUTPUTS
from .scores import POPULARITY_KEYS as POPULARITY_KEYS
from .scores import SCORE_KEYS as SCORE_KEYS
from .scores import OutputSpec as OutputSpec
from .scores import Scores as Scores

__version__: str
