/** The price page for visitors who are not signed in (loaded only when it is opened). */
import { publicCatalogue } from "./catalogue";
import { PricesScreen } from "./Prices";

export default function PublicPrices() {
  return <PricesScreen call={publicCatalogue} />;
}
